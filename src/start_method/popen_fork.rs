//! The fork start method: the worker is a copy of the parent, taken inside the pool.
//! How the copy is made safely, in a parent that may have threads, is in
//! `worker/fork.rs`, which the fork server uses too.

use std::io;

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
