//! The fork start method: the worker is a copy of the parent, taken inside the pool.
//!
//! The parent may have other threads; the copy has only the one that called `fork()`.
//! A lock held by any other thread at that moment stays held in the child forever, so
//! between `fork()` and the worker's loop the child only does what fork(2) allows: "the
//! child can safely call only async-signal-safe functions". Everything that needs a lock
//! or an allocation is prepared in the parent, before the fork. The chapter "Fork and
//! threads" shows what happens otherwise.

use std::ffi::{CString, c_char};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::start_method::{Popen, ThreadedFork, WorkerSpec};
use crate::worker::bootstrap;
use crate::worker::channel::{Channel, ForkGuard, PoolSocket};
use crate::worker::error::{PoolError, WorkerExit};
use crate::worker::{self, unlocked_io};

/// A worker started by `fork()`.
pub(crate) struct ForkPopen {
    pid: Pid,
}

impl ForkPopen {
    // ANCHOR: launch
    pub(crate) fn launch(
        spec: &WorkerSpec<'_>,
        channel: PoolSocket,
    ) -> Result<Self, PoolError> {
        check_threads(spec)?;
        // Prepared here, where locks and the allocator are safe to use.
        let channel = Channel::from_socket(channel);
        let name = Box::new(spec.name.to_owned());
        let environment = Environment::without(spec.env_remove);
        let parent = nix::unistd::getpid();
        let sockets = ForkGuard::lock();
        // SAFETY: the child runs only async-signal-safe code until it serves, and
        // leaves through `_exit`: it never returns into the parent's code.
        match unsafe { fork() } {
            Err(errno) => Err(spec.launch_error(errno.into())),
            Ok(ForkResult::Parent { child }) => Ok(ForkPopen { pid: child }),
            Ok(ForkResult::Child) => {
                // close(2): the other workers' sockets, listed under the guard's lock,
                // which this thread took before the fork.
                sockets.close_inherited_except(&channel);
                // A pointer store, a second pointer store: no lock, no allocation.
                bootstrap::set_forked_process_name(name);
                if let Some(environment) = &environment {
                    environment.install();
                }
                let code = worker::contain(|| {
                    // prctl(2), getppid(2), open(2), dup2(2): all plain system calls.
                    if !die_with(parent) || worker::detach_stdin().is_err() {
                        return 1;
                    }
                    worker::serve(spec.name, channel, false)
                });
                // `_exit`, not `exit`: the parent's exit-time work must not run twice.
                // Standard output is not flushed: its lock may be one that a parent
                // thread held. It is line-buffered, so only an unfinished line is lost.
                unsafe { nix::libc::_exit(code) }
            }
        }
    }
    // ANCHOR_END: launch
}

/// Asks the kernel to kill this worker when the parent's thread that forked it ends, and
/// checks that the parent did not end before the request was made. Linux only.
fn die_with(parent: Pid) -> bool {
    #[cfg(target_os = "linux")]
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        return false;
    }
    nix::unistd::getppid() == parent
}

/// True once the warning about a multi-threaded parent has been printed.
static WARNED: AtomicBool = AtomicBool::new(false);

// ANCHOR: check_threads
/// Refuses to fork, or warns once per process, when this process has other threads: any
/// lock one of them holds at the fork stays locked in the worker. CPython 3.12 warns in
/// the same spot ("This process is multi-threaded, use of fork() may lead to deadlocks
/// in the child").
fn check_threads(spec: &WorkerSpec<'_>) -> Result<(), PoolError> {
    let threads = match (spec.threaded_fork, thread_count()) {
        (ThreadedFork::Allow, _) | (_, None | Some(0..=1)) => return Ok(()),
        (_, Some(threads)) => threads,
    };
    if spec.threaded_fork == ThreadedFork::Refuse {
        return Err(PoolError::ThreadedFork { threads });
    }
    if !WARNED.swap(true, Ordering::Relaxed) {
        let line = format!(
            "warning: this process has {threads} threads; a forked worker may deadlock \
             (use spawn)\n"
        );
        unlocked_io::write_stderr(line.as_bytes());
    }
    Ok(())
}

/// The number of threads of this process, as the kernel lists them; `None` where there
/// is no `/proc` to ask.
fn thread_count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}
// ANCHOR_END: check_threads

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
        // `self` lives in the frame of `launch`, which the child never leaves.
        unsafe { environ = self.pointers.as_ptr() };
    }
}

impl Popen for ForkPopen {
    fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    fn kill(&mut self) -> io::Result<()> {
        Ok(kill(self.pid, Signal::SIGKILL)?)
    }

    /// A forked worker serves as soon as `fork()` returns: nothing of its own runs first.
    fn announces_readiness(&self) -> bool {
        false
    }

    fn wait(&mut self) -> io::Result<WorkerExit> {
        loop {
            if let Some(exit) = self.reap(None)? {
                return Ok(exit);
            }
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<WorkerExit>> {
        self.reap(Some(WaitPidFlag::WNOHANG))
    }
}

impl ForkPopen {
    /// One `waitpid`: the exit, or `None` if the worker is still there (or only stopped).
    fn reap(&self, flags: Option<WaitPidFlag>) -> io::Result<Option<WorkerExit>> {
        match waitpid(self.pid, flags) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(WorkerExit::Code(code))),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                Ok(Some(WorkerExit::Signal(signal as i32)))
            }
            Ok(_) | Err(Errno::EINTR) => Ok(None),
            Err(errno) => Err(errno.into()),
        }
    }
}
