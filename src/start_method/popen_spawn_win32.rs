//! The spawn start method on Windows: the worker is this program, executed again from the
//! start, as on Unix; what differs is how it gets its channel and how it is waited for.
//!
//! CPython's `popen_spawn_win32.py` does much the same: `CreateProcess` on the running
//! executable, a handle's number on the command line. Windows has neither
//! `fork()` nor signals: a worker is ended with `TerminateProcess`, and its exit code is
//! all that says how it ended.

use std::io;
use std::process::{Child, Command};
use std::time::Duration;

use crate::start_method::{Popen, WorkerSpec};
use crate::worker::bootstrap::{self, WORKER_FLAG};
use crate::worker::channel::PoolSocket;
use crate::worker::error::{PoolError, WorkerExit};
use crate::worker::loopback;

/// A worker started by executing this program again, on Windows.
pub(crate) struct SpawnWin32Popen(Child);

impl SpawnWin32Popen {
    // ANCHOR: launch
    pub(crate) fn launch(
        spec: &WorkerSpec<'_>,
        channel: PoolSocket,
    ) -> Result<Self, PoolError> {
        let launched = || -> io::Result<Child> {
            // The worker's flag, name, parent, and the number of its inherited socket.
            let socket = loopback::inheritable(&channel)?.to_string();
            let parent = std::process::id().to_string();
            let mut command = Command::new(std::env::current_exe()?);
            // Then the parent's own command line, which code before `init()` sees again
            // (in a test binary, the harness's arguments that lead to `init()`).
            let marker = [WORKER_FLAG, spec.name, &parent, &socket];
            command.args(bootstrap::relaunch_args(&marker));
            for name in spec.env_remove {
                command.env_remove(name);
            }
            command.spawn()
        };
        // `channel` is closed when this returns: the worker holds the only other copy.
        launched()
            .map(SpawnWin32Popen)
            .map_err(|source| spec.launch_error(source))
    }
    // ANCHOR_END: launch
}

impl Popen for SpawnWin32Popen {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    /// `TerminateProcess`, with exit code 1, as Task Manager and `taskkill /F` do.
    fn kill(&mut self) -> io::Result<()> {
        self.0.kill()
    }

    /// A spawned worker runs `main` up to `init()` before it serves, and may fail there.
    fn announces_readiness(&self) -> bool {
        true
    }

    fn wait(&mut self) -> io::Result<WorkerExit> {
        self.0.wait().map(exit_of)
    }

    fn try_wait(&mut self) -> io::Result<Option<WorkerExit>> {
        self.0.try_wait().map(|status| status.map(exit_of))
    }

    /// A process handle is signalled when the process ends: waited on with a limit.
    fn wait_within(&mut self, limit: Duration) -> io::Result<Option<WorkerExit>> {
        use std::os::windows::io::AsRawHandle;
        use windows_sys::Win32::Foundation::WAIT_TIMEOUT;
        use windows_sys::Win32::System::Threading::WaitForSingleObject;
        let millis = u32::try_from(limit.as_millis()).unwrap_or(u32::MAX - 1);
        // SAFETY: the child's handle stays open while `self.0` lives.
        match unsafe { WaitForSingleObject(self.0.as_raw_handle(), millis) } {
            WAIT_TIMEOUT => Ok(None),
            _ => self.try_wait(),
        }
    }
}

/// A Windows process always ends with a code, whoever ended it.
fn exit_of(status: std::process::ExitStatus) -> WorkerExit {
    status.code().map_or(WorkerExit::Unknown, WorkerExit::Code)
}
