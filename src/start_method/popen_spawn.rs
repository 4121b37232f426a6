//! The spawn start method: the worker is this program, executed again from the start.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};

use crate::start_method::{Popen, WorkerSpec};
use crate::worker::bootstrap::{self, WORKER_FLAG};
use crate::worker::channel::PoolSocket;
use crate::worker::error::{PoolError, WorkerExit};

/// A worker started by executing this program again.
pub(crate) struct SpawnPopen {
    child: Child,
}

impl SpawnPopen {
    // ANCHOR: launch
    pub(crate) fn launch(
        spec: &WorkerSpec<'_>,
        channel: PoolSocket,
    ) -> Result<Self, PoolError> {
        Self::command(spec, channel)
            .and_then(|mut command| command.spawn())
            .map(|child| SpawnPopen { child })
            .map_err(|source| spec.launch_error(source))
    }

    fn command(spec: &WorkerSpec<'_>, channel: PoolSocket) -> io::Result<Command> {
        // The running executable itself, not `argv[0]` (which may be any string) nor a
        // search of PATH (which may find another program).
        let mut command = Command::new(std::env::current_exe()?);
        // The worker's flag, name and parent, then the parent's own command line, which
        // code before `init()` sees again, as it would in Python.
        command
            .args([WORKER_FLAG, spec.name, &std::process::id().to_string()])
            .args(bootstrap::program_args().into_iter().skip(1));
        // Standard input is the one descriptor passed without a `pre_exec` hook, which
        // keeps `Command` on `posix_spawn`: its cost does not grow with the parent's
        // memory.
        command.stdin(channel.as_fd().try_clone_to_owned()?);
        for variable in spec.env_remove {
            command.env_remove(variable);
        }
        Ok(command)
    }
    // ANCHOR_END: launch
}

impl Popen for SpawnPopen {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn kill(&mut self) -> io::Result<()> {
        self.child.kill()
    }

    /// A spawned worker runs `main` up to `init()` before it serves, and may fail there.
    fn announces_readiness(&self) -> bool {
        true
    }

    fn wait(&mut self) -> io::Result<WorkerExit> {
        self.child.wait().map(exit_of).or_else(reaped_by_the_system)
    }

    fn try_wait(&mut self) -> io::Result<Option<WorkerExit>> {
        match self.child.try_wait() {
            Ok(status) => Ok(status.map(exit_of)),
            Err(error) => reaped_by_the_system(error).map(Some),
        }
    }
}

/// SIGCHLD is ignored: the kernel has reaped the worker already.
fn reaped_by_the_system(error: io::Error) -> io::Result<WorkerExit> {
    match error.raw_os_error() {
        Some(nix::libc::ECHILD) => Ok(WorkerExit::Unknown),
        _ => Err(error),
    }
}

fn exit_of(status: ExitStatus) -> WorkerExit {
    match (status.code(), status.signal()) {
        (Some(code), _) => WorkerExit::Code(code),
        (None, Some(signal)) => WorkerExit::Signal(signal),
        (None, None) => WorkerExit::Code(-1),
    }
}
