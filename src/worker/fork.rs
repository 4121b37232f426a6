//! Forking a worker: the part of the fork start method that the fork server uses too.
//!
//! The parent may have other threads; the copy has only the one that called `fork()`.
//! A lock held by any other thread at that moment stays held in the child forever, so
//! between `fork()` and the worker's loop the child only does what fork(2) allows: "the
//! child can safely call only async-signal-safe functions". Everything that needs a lock
//! or an allocation is prepared in the parent, before the fork. The chapter "Fork and
//! threads" shows what happens otherwise.

use std::ffi::{CString, c_char};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;

use nix::unistd::{ForkResult, Pid, fork};

use crate::worker::channel::{Channel, PoolSocket};
use crate::worker::descriptors::ForkGuard;
use crate::worker::error::PoolError;
use crate::worker::threads::{ThreadedFork, check_threads};
use crate::worker::{self, bootstrap};

/// What a forked worker is told.
pub(crate) struct ForkSpec<'a> {
    pub name: &'a str,
    /// Environment variables the worker must not have.
    pub env_remove: &'a [String],
    pub threaded_fork: ThreadedFork,
}

// ANCHOR: fork_worker
/// Forks a worker that serves requests on `channel`, and returns its pid.
pub(crate) fn fork_worker(
    spec: &ForkSpec<'_>,
    channel: PoolSocket,
) -> Result<Pid, PoolError> {
    let threads = check_threads(spec.threaded_fork)?;
    // Prepared here, where locks and the allocator are safe to use.
    let channel = Channel::from_socket(channel);
    let name = Box::new(spec.name.to_owned());
    let environment = Environment::without(spec.env_remove);
    let parent = std::process::id();
    // A line the parent has not finished sits in standard output's buffer, which the
    // child copies: a task that leaves through `exit` would print it again. Flushed
    // only with no other thread: another may hold the lock, for ever (the chapter
    // "Fork and threads" holds it on purpose), and the pool would wait with it.
    if threads == Some(1) {
        let _ = std::io::stdout().flush();
    }
    let sockets = ForkGuard::lock();
    // SAFETY: the child runs only async-signal-safe code until it serves, and leaves
    // through `_exit`: it never returns into the parent's code. Why that matters in a
    // parent with threads: the chapter "Fork and threads" (src/fork-threads.md).
    match unsafe { fork() } {
        Err(errno) => Err(PoolError::Launch {
            worker: spec.name.to_owned(),
            source: errno.into(),
        }),
        Ok(ForkResult::Parent { child }) => Ok(child),
        Ok(ForkResult::Child) => {
            // close(2): the other workers' sockets, listed under the guard's lock, which
            // this thread took before the fork.
            sockets.close_inherited_except(channel.as_fd().as_raw_fd());
            // A pointer store, a second pointer store: no lock, no allocation.
            bootstrap::set_forked_process_name(name);
            if let Some(environment) = &environment {
                environment.install();
            }
            let code = worker::contain(|| {
                // prctl(2), getppid(2), open(2), dup2(2): all plain system calls.
                if !bootstrap::die_with_parent(parent)
                    || worker::detach_stdin().is_err()
                {
                    return 1;
                }
                worker::serve(spec.name, channel, false)
            });
            // However serving ended, a panic that escaped it included: a fork server
            // this worker's task started is stopped, not left an orphan.
            worker::contain(|| {
                worker::leaving();
                0
            });
            // `_exit`, not `exit`: the parent's exit-time work must not run twice.
            // Standard output is not flushed: its lock may be one that a parent thread
            // held. It is line-buffered, so only an unfinished line is lost.
            unsafe { nix::libc::_exit(code) }
        }
    }
}
// ANCHOR_END: fork_worker

/// A copy of the environment without some variables, made in the parent for a forked
/// child. `std::env::remove_var` in the child would take the lock that guards the
/// environment, which a parent thread may have held (reading a variable is enough); the
/// child only points `environ` at this copy.
struct Environment {
    _variables: Vec<CString>,
    pointers: Vec<*const c_char>,
}

unsafe extern "C" {
    static mut environ: *const *const c_char;
}

impl Environment {
    /// `None` when no variable is removed: the child keeps the environment as it is.
    fn without(removed: &[String]) -> Option<Environment> {
        if removed.is_empty() {
            return None;
        }
        let variables: Vec<CString> = std::env::vars_os()
            .filter(|(name, _)| !removed.iter().any(|r| name == r.as_str()))
            .filter_map(|(name, value)| {
                let mut entry = name.as_bytes().to_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                CString::new(entry).ok()
            })
            .collect();
        let mut pointers: Vec<*const c_char> =
            variables.iter().map(|v| v.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Some(Environment {
            _variables: variables,
            pointers,
        })
    }

    /// In the child: one pointer store. The copy is never freed: the child leaves
    /// through `_exit`.
    fn install(&self) {
        // SAFETY: the child has one thread, so nothing reads `environ` meanwhile, and
        // `self` lives in the frame of `fork_worker`, which the child never leaves.
        unsafe { environ = self.pointers.as_ptr() };
    }
}
