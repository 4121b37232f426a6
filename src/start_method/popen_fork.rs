//! The fork start method: the worker is a copy of the parent, taken inside the pool.
//! How the copy is made safely, in a parent that may have threads, is in
//! `worker/fork.rs`, which the fork server uses too.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::start_method::{Popen, WorkerSpec};
use crate::worker::channel::PoolSocket;
use crate::worker::descriptors::{self, Listed};
use crate::worker::error::{PoolError, WorkerExit};
use crate::worker::fork::{ForkSpec, fork_worker};

/// A worker started by `fork()`.
pub(crate) struct ForkPopen {
    pid: Pid,
    /// Readable once the worker has ended (see [`watch_exit`]).
    exit: Option<Listed<OwnedFd>>,
}

impl ForkPopen {
    // ANCHOR: launch
    pub(crate) fn launch(
        spec: &WorkerSpec<'_>,
        channel: PoolSocket,
    ) -> Result<Self, PoolError> {
        let fork = ForkSpec {
            name: spec.name,
            env_remove: spec.env_remove,
            threaded_fork: spec.threaded_fork,
        };
        Ok(ForkPopen::adopt(fork_worker(&fork, channel)?))
    }
    // ANCHOR_END: launch

    /// A child this process started some other way: it is waited for the same way.
    pub(crate) fn adopt(pid: Pid) -> ForkPopen {
        // A child is not reaped before this process waits for it: its pid is still its.
        ForkPopen {
            pid,
            exit: watch_exit(pid),
        }
    }
}

/// A descriptor that `poll` reports readable once the process `pid` has ended, whoever
/// holds its channel and whoever its parent is (`pidfd_open(2)`, Linux 5.3), listed so
/// that no fork copies it. `None` on other systems, on older kernels, and when this
/// process has no descriptor left: the pool then learns of the exit from the channel.
/// The caller makes sure `pid` cannot yet be another process's: it is an unreaped child,
/// its own or its fork server's.
pub(crate) fn watch_exit(pid: Pid) -> Option<Listed<OwnedFd>> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::FromRawFd;
        descriptors::make(|| {
            // SAFETY: a system call with two integer arguments; it returns a new
            // descriptor, close-on-exec.
            let fd = unsafe {
                nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0)
            };
            match fd {
                -1 => Err(io::Error::last_os_error()),
                // SAFETY: just made, owned here.
                fd => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
            }
        })
        .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
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

    fn exit_sentinel(&self) -> Option<BorrowedFd<'_>> {
        self.exit.as_ref().map(|exit| exit.as_fd())
    }

    fn wait_within(&mut self, limit: Duration) -> io::Result<Option<WorkerExit>> {
        if ended_within(self.exit_sentinel(), limit)? {
            self.wait().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Whether the process that `exit` watches ends within `limit`; without a descriptor to
/// watch, the answer is "yes", and the caller's wait has no limit.
pub(crate) fn ended_within(
    exit: Option<BorrowedFd<'_>>,
    limit: Duration,
) -> io::Result<bool> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let Some(exit) = exit else {
        return Ok(true);
    };
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let millis = left.as_nanos().div_ceil(1_000_000);
        let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
        match poll(&mut [PollFd::new(exit, PollFlags::POLLIN)], timeout) {
            Ok(0) if Instant::now() >= deadline => return Ok(false),
            Ok(0) | Err(Errno::EINTR) => continue,
            Ok(_) => return Ok(true),
            Err(errno) => return Err(errno.into()),
        }
    }
}

impl ForkPopen {
    /// One `waitpid`: the exit, or `None` if the worker is still there (or only stopped).
    pub(crate) fn reap(
        &self,
        flags: Option<WaitPidFlag>,
    ) -> io::Result<Option<WorkerExit>> {
        match waitpid(self.pid, flags) {
            Ok(WaitStatus::Exited(_, code)) => Ok(Some(WorkerExit::Code(code))),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                Ok(Some(WorkerExit::Signal(signal as i32)))
            }
            Ok(_) | Err(Errno::EINTR) => Ok(None),
            // SIGCHLD is ignored: the kernel has reaped it already.
            Err(Errno::ECHILD) => Ok(Some(WorkerExit::Unknown)),
            Err(errno) => Err(errno.into()),
        }
    }
}
