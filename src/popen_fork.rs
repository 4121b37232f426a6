//! The fork start method: the worker is a copy of the parent, taken inside the pool.

use std::io;

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork};

use crate::bootstrap;
use crate::channel::{Channel, ForkGuard, PoolSocket};
use crate::error::WorkerExit;
use crate::start_method::{Popen, WorkerSpec};
use crate::worker;

/// A worker started by `fork()`.
pub(crate) struct ForkPopen {
    pid: Pid,
}

impl ForkPopen {
    // ANCHOR: launch
    pub(crate) fn launch(
        spec: &WorkerSpec<'_>,
        channel: PoolSocket,
    ) -> io::Result<Self> {
        // Whatever sits in the parent's buffers would otherwise be printed by both
        // processes.
        worker::flush_std_streams();
        let sockets = ForkGuard::lock();
        // SAFETY: the child only runs the worker loop and leaves through `_exit`; it
        // never returns into the parent's code. See the chapter on fork and threads for
        // what a multi-threaded parent risks here.
        match unsafe { fork() }? {
            ForkResult::Parent { child } => Ok(ForkPopen { pid: child }),
            ForkResult::Child => {
                sockets.close_inherited_except(&channel);
                bootstrap::set_current_process_name(spec.name);
                for variable in spec.env_remove {
                    // SAFETY: a forked child has one thread, this one.
                    unsafe { std::env::remove_var(variable) };
                }
                let code = match worker::detach_stdin() {
                    Ok(()) => {
                        worker::serve(spec.name, Channel::from_socket(channel), false)
                    }
                    Err(_) => 1,
                };
                worker::flush_std_streams();
                // `_exit`, not `exit`: the parent's exit-time work must not run twice.
                unsafe { nix::libc::_exit(code) }
            }
        }
    }
    // ANCHOR_END: launch
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
            match waitpid(self.pid, None)? {
                WaitStatus::Exited(_, code) => return Ok(WorkerExit::Code(code)),
                WaitStatus::Signaled(_, signal, _) => {
                    return Ok(WorkerExit::Signal(signal as i32));
                }
                _ => continue, // stopped or continued: not the end
            }
        }
    }
}
