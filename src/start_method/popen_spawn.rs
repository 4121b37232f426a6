//! The spawn start method: the worker is this program, executed again from the start.
//!
//! Once started, a spawned worker is a child like a forked one: it is waited for and
//! killed the same way, as CPython's `popen_spawn_posix.Popen` extends
//! `popen_fork.Popen`.

use std::io;
use std::os::fd::AsFd;
use std::time::Duration;

use crate::start_method::exec::spawn_this_program;
use crate::start_method::popen_fork::ForkPopen;
use crate::start_method::{Popen, WorkerSpec};
use crate::worker::bootstrap::WORKER_FLAG;
use crate::worker::channel::PoolSocket;
use crate::worker::error::{PoolError, WorkerExit};

/// A worker started by executing this program again.
pub(crate) struct SpawnPopen(ForkPopen);

impl SpawnPopen {
    // ANCHOR: launch
    pub(crate) fn launch(
        spec: &WorkerSpec<'_>,
        channel: PoolSocket,
    ) -> Result<Self, PoolError> {
        // The worker's flag, name and parent; its channel goes across as descriptor 3.
        let parent = std::process::id().to_string();
        let flags = [WORKER_FLAG, spec.name, &parent];
        spawn_this_program(&flags, spec.env_remove, channel.as_fd())
            .map(|pid| SpawnPopen(ForkPopen::adopt(pid)))
            .map_err(|source| spec.launch_error(source))
    }
    // ANCHOR_END: launch
}

impl Popen for SpawnPopen {
    fn pid(&self) -> u32 {
        self.0.pid()
    }

    fn kill(&mut self) -> io::Result<()> {
        self.0.kill()
    }

    /// A spawned worker runs `main` up to `init()` before it serves, and may fail there.
    fn announces_readiness(&self) -> bool {
        true
    }

    fn wait(&mut self) -> io::Result<WorkerExit> {
        self.0.wait()
    }

    fn try_wait(&mut self) -> io::Result<Option<WorkerExit>> {
        self.0.try_wait()
    }

    fn exit_sentinel(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.0.exit_sentinel()
    }

    fn wait_within(&mut self, limit: Duration) -> io::Result<Option<WorkerExit>> {
        self.0.wait_within(limit)
    }
}
