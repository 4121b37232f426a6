//! What the operating system alone charges to start a process: the floors that a pool's
//! start-up cost is measured against.

use std::ffi::CStr;
use std::io;

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
        posix_spawn_and_wait(c"/bin/true").unwrap();
        assert!(posix_spawn_and_wait(c"/bin/false").is_err());
    }
}
