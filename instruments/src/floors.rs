//! What the operating system alone charges to start a process: the floors that a pool's
//! start-up cost is measured against.

use std::ffi::CStr;
use std::io;
use std::time::{Duration, Instant};

use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, posix_spawn};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, fork};

// ANCHOR: floors
/// `fork()`, `_exit(0)` in the child, `waitpid()` in the parent: the least a fork costs.
pub fn fork_and_wait() -> io::Result<()> {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe.
    match unsafe { fork() }? {
        ForkResult::Child => unsafe { nix::libc::_exit(0) },
        ForkResult::Parent { child } => expect_success(waitpid(child, None)?),
    }
}

/// `posix_spawn()` of `program` with no arguments, then `waitpid()`: the least it costs to
/// start a new program. (glibc starts it with `clone(CLONE_VM | CLONE_VFORK)`: the child
/// borrows the parent's memory until it executes the program, so nothing is copied.)
pub fn posix_spawn_and_wait(program: &CStr) -> io::Result<()> {
    let actions = PosixSpawnFileActions::init()?;
    let attributes = PosixSpawnAttr::init()?;
    let child =
        posix_spawn(program, &actions, &attributes, &[program], &[] as &[&CStr])?;
    expect_success(waitpid(child, None)?)
}
// ANCHOR_END: floors

// ANCHOR: split
/// The bare fork cycle of [`fork_and_wait`], cut in two.
#[derive(Clone, Copy, Debug)]
pub struct ForkCycle {
    /// From calling `fork()` to its return in the parent: the kernel copying the parent's
    /// page tables and marking its pages copy-on-write.
    pub fork: Duration,
    /// From there to `waitpid()`'s return: the child runs, calls `_exit`, and the kernel
    /// tears down its copy of the mappings before it reports the child gone.
    pub exit_and_wait: Duration,
}

/// [`fork_and_wait`], timing its two halves.
pub fn fork_and_wait_split() -> io::Result<ForkCycle> {
    let started = Instant::now();
    // SAFETY: the child calls only `_exit`, which is async-signal-safe.
    match unsafe { fork() }? {
        ForkResult::Child => unsafe { nix::libc::_exit(0) },
        ForkResult::Parent { child } => {
            let forked = Instant::now();
            expect_success(waitpid(child, None)?)?;
            Ok(ForkCycle {
                fork: forked - started,
                exit_and_wait: forked.elapsed(),
            })
        }
    }
}
// ANCHOR_END: split

fn expect_success(status: WaitStatus) -> io::Result<()> {
    match status {
        WaitStatus::Exited(_, 0) => Ok(()),
        other => Err(io::Error::other(format!("the child ended with {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_floors_start_and_reap_a_process() {
        fork_and_wait().unwrap();
        let cycle = fork_and_wait_split().unwrap();
        assert!(cycle.fork > Duration::ZERO && cycle.exit_and_wait > Duration::ZERO);
        posix_spawn_and_wait(c"/bin/true").unwrap();
        assert!(posix_spawn_and_wait(c"/bin/false").is_err());
    }
}
