//! The start methods, and the one seam between the pool and the way a worker starts.
//!
//! The middle floor: how a worker comes to exist. Like CPython's
//! `multiprocessing/context.py`, this file maps a method to its implementation; each
//! implementation lives in a file of its own (`popen_fork.rs`, `popen_spawn.rs`,
//! `popen_forkserver.rs`, and on Windows `popen_spawn_win32.rs`), as CPython's
//! `popen_fork.py`, `popen_spawn_posix.py`, `popen_forkserver.py` and
//! `popen_spawn_win32.py` do. Nothing here knows of the pool.

// ANCHOR: modules
#[cfg(unix)]
mod exec;
#[cfg(unix)]
mod popen_fork;
#[cfg(unix)]
pub(crate) mod popen_forkserver;
#[cfg(unix)]
mod popen_spawn;
#[cfg(windows)]
mod popen_spawn_win32;
#[cfg(not(any(unix, windows)))]
pub(crate) mod unsupported;
// ANCHOR_END: modules

use std::fmt;
#[cfg(any(unix, windows))]
use std::io;
use std::str::FromStr;

#[cfg(any(unix, windows))]
use crate::worker::channel::PoolSocket;
#[cfg(any(unix, windows))]
use crate::worker::error::{PoolError, WorkerExit};
#[cfg(unix)]
use popen_fork::ForkPopen;
#[cfg(unix)]
use popen_forkserver::ForkserverPopen;
#[cfg(unix)]
use popen_spawn::SpawnPopen;
#[cfg(windows)]
use popen_spawn_win32::SpawnWin32Popen;

/// How a worker process starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StartMethod {
    /// Copy the running parent with `fork()`; the copy serves tasks at once.
    Fork,
    /// Execute this program again; it runs `main` until `forkspawn::init()`, then
    /// serves tasks.
    Spawn,
    /// Ask a fork server to fork the worker: a copy of the server, which is this
    /// program executed again (as by spawn), stopped at `forkspawn::init()`.
    Forkserver,
}

impl StartMethod {
    /// Every start method, whether this build has it or not, in the order they are listed.
    const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ];

    /// The name as typed on the command line and printed by the book's programs.
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }

    /// Whether this build of the library can start workers this way. Fork exists on Unix
    /// only, and so does the fork server; spawn is written for Unix and Windows.
    pub fn is_available(self) -> bool {
        match self {
            StartMethod::Fork | StartMethod::Forkserver => cfg!(unix),
            StartMethod::Spawn => cfg!(any(unix, windows)),
        }
    }

    /// The start methods this build can use.
    pub fn available() -> Vec<StartMethod> {
        StartMethod::ALL
            .into_iter()
            .filter(|method| method.is_available())
            .collect()
    }

    // ANCHOR: unsupported
    /// The error for this method on a platform that lacks it.
    #[cfg_attr(unix, allow(dead_code))]
    pub(crate) fn unsupported(self) -> crate::PoolError {
        crate::PoolError::Unsupported {
            method: self.as_str(),
            reason: match self {
                StartMethod::Fork | StartMethod::Forkserver => "fork() is Unix-only",
                StartMethod::Spawn => "spawn is written for Unix and Windows only",
            },
        }
    }
    // ANCHOR_END: unsupported

    /// The stem of worker names, as in Python: `ForkProcess`-1, `SpawnProcess`-2,
    /// `ForkServerProcess`-3.
    pub fn process_kind(self) -> &'static str {
        match self {
            StartMethod::Fork => "ForkProcess",
            StartMethod::Spawn => "SpawnProcess",
            StartMethod::Forkserver => "ForkServerProcess",
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a method by its name, as [`StartMethod::as_str`] gives it: `fork`, `spawn` or
/// `forkserver`. A method this build lacks is still read; starting a pool with it fails.
impl FromStr for StartMethod {
    type Err = UnknownStartMethod;

    fn from_str(name: &str) -> Result<StartMethod, UnknownStartMethod> {
        StartMethod::ALL
            .into_iter()
            .find(|method| method.as_str() == name)
            .ok_or_else(|| UnknownStartMethod(name.to_owned()))
    }
}

/// A name that is not a start method's; it says which names are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownStartMethod(String);

impl fmt::Display for UnknownStartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [first, second, third] = StartMethod::ALL.map(StartMethod::as_str);
        write!(
            f,
            "unknown start method '{}': the start methods are {first}, {second} and {third}",
            self.0
        )
    }
}

impl std::error::Error for UnknownStartMethod {}

// ANCHOR: popen
/// A started worker process, seen from the pool: all the pool may ask of it.
#[cfg(any(unix, windows))]
pub(crate) trait Popen: Send {
    fn pid(&self) -> u32;
    /// Sends `SIGKILL` (on Windows, `TerminateProcess`); the worker is gone once
    /// [`Popen::wait`] returns.
    fn kill(&mut self) -> io::Result<()>;
    /// Waits for the worker to end and reaps it, so that no zombie is left behind. The
    /// pool calls it once it knows the worker is ending: its channel reached end-of-file,
    /// or it was killed.
    fn wait(&mut self) -> io::Result<WorkerExit>;
    /// Reaps the worker if it has ended; `None` if it is still running.
    fn try_wait(&mut self) -> io::Result<Option<WorkerExit>>;
    /// Waits at most `limit` for the worker to end, and reaps it; `None` if it is still
    /// running then. The pool waits so once a worker has closed its channel: it should
    /// be leaving, but a process that closed its channel and went on must not hold the
    /// pool for ever.
    fn wait_within(
        &mut self,
        limit: std::time::Duration,
    ) -> io::Result<Option<WorkerExit>>;
    /// A descriptor that becomes readable as soon as the worker has ended, whoever still
    /// holds its channel (a process its task started): the pool polls it beside the
    /// channel. `None` where the system has none; on Windows, where `WSAPoll` waits on
    /// sockets only, the channel is the sign.
    #[cfg(unix)]
    fn exit_sentinel(&self) -> Option<std::os::fd::BorrowedFd<'_>>;
    /// True if the worker sends `Ready` before its first reply: a worker that has code
    /// to run before it serves (a spawned one runs `main`) can fail there, and the pool
    /// must be able to say so.
    fn announces_readiness(&self) -> bool;
}

/// What every start method is told about the worker to start.
#[cfg(any(unix, windows))]
pub(crate) struct WorkerSpec<'a> {
    pub name: &'a str,
    /// Environment variables the worker must not have.
    pub env_remove: &'a [String],
    /// What a fork does in a process with other threads.
    #[cfg_attr(windows, allow(dead_code))] // no fork there
    pub threaded_fork: crate::ThreadedFork,
    /// How long to wait for anything the start needs (a fork server's answer).
    #[cfg_attr(windows, allow(dead_code))] // no fork server there
    pub timeout: std::time::Duration,
}

#[cfg(any(unix, windows))]
impl WorkerSpec<'_> {
    /// The error for a worker that could not be started.
    pub(crate) fn launch_error(&self, source: io::Error) -> PoolError {
        PoolError::Launch {
            worker: self.name.to_owned(),
            source,
        }
    }
}

/// Starts a worker, which serves requests on `channel`.
#[cfg(any(unix, windows))]
pub(crate) fn launch(
    method: StartMethod,
    spec: &WorkerSpec<'_>,
    channel: PoolSocket,
) -> Result<Box<dyn Popen>, PoolError> {
    Ok(match method {
        #[cfg(unix)]
        StartMethod::Fork => Box::new(ForkPopen::launch(spec, channel)?),
        #[cfg(unix)]
        StartMethod::Spawn => Box::new(SpawnPopen::launch(spec, channel)?),
        #[cfg(unix)]
        StartMethod::Forkserver => Box::new(ForkserverPopen::launch(spec, channel)?),
        #[cfg(windows)]
        StartMethod::Spawn => Box::new(SpawnWin32Popen::launch(spec, channel)?),
        #[cfg(windows)]
        StartMethod::Fork | StartMethod::Forkserver => return Err(method.unsupported()),
    })
}
// ANCHOR_END: popen

#[cfg(test)]
mod tests {
    use super::StartMethod;

    #[test]
    fn unix_builds_support_all_methods_and_windows_builds_spawn() {
        let expected = if cfg!(unix) {
            vec![
                StartMethod::Fork,
                StartMethod::Spawn,
                StartMethod::Forkserver,
            ]
        } else if cfg!(windows) {
            vec![StartMethod::Spawn]
        } else {
            vec![]
        };
        assert_eq!(StartMethod::available(), expected);
    }

    #[test]
    fn a_method_is_read_by_the_name_it_prints() {
        for method in StartMethod::ALL {
            assert_eq!(method.to_string().parse(), Ok(method));
        }
        let error = "frok".parse::<StartMethod>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown start method 'frok': the start methods are fork, spawn and forkserver"
        );
        assert!("Fork".parse::<StartMethod>().is_err());
    }
}
