//! The fork start method: the worker is a copy of the parent, taken inside the pool.
//! How the copy is made safely, in a parent that may have threads, is in
//! `worker/fork.rs`, which the fork server uses too.

use std::io;
use std::time::Duration;
#[cfg(target_os = "linux")]
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::start_method::{Popen, WorkerSpec};
use crate::worker::channel::PoolSocket;
use crate::worker::error::{PoolError, WorkerExit};
use crate::worker::fork::{ForkSpec, fork_worker};

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
        let fork = ForkSpec {
            name: spec.name,
            env_remove: spec.env_remove,
            threaded_fork: spec.threaded_fork,
        };
        Ok(ForkPopen {
            pid: fork_worker(&fork, channel)?,
        })
    }
    // ANCHOR_END: launch

    /// A child this process started some other way: it is waited for the same way.
    pub(crate) fn adopt(pid: Pid) -> ForkPopen {
        ForkPopen { pid }
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

    fn wait_within(&mut self, limit: Duration) -> io::Result<Option<WorkerExit>> {
        if ended_within(self.pid, limit)? {
            self.wait().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Whether the process `pid` ends within `limit`. Linux says so through a descriptor
/// for the process (`pidfd_open(2)`), which `poll` reports readable once it has ended,
/// whoever its parent is; elsewhere, or on a kernel older than 5.3, the answer is "yes",
/// and the caller's wait has no limit.
pub(crate) fn ended_within(pid: Pid, limit: Duration) -> io::Result<bool> {
    #[cfg(target_os = "linux")]
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};
        // SAFETY: a system call with two integer arguments; it returns a new descriptor.
        let fd =
            unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
        if fd < 0 {
            // ESRCH: already gone (and reaped, if SIGCHLD is ignored); ENOSYS: no pidfd.
            return Ok(true);
        }
        // SAFETY: just made, owned here.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let millis = left.as_nanos().div_ceil(1_000_000);
            let timeout = PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX);
            let fd: BorrowedFd<'_> = std::os::fd::AsFd::as_fd(&pidfd);
            match poll(&mut [PollFd::new(fd, PollFlags::POLLIN)], timeout) {
                Ok(0) if Instant::now() >= deadline => return Ok(false),
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => return Ok(true),
                Err(errno) => return Err(errno.into()),
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pid, limit);
        Ok(true)
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
