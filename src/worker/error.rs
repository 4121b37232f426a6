//! What can go wrong in a pool, each said in one line that names the worker and the
//! cause.

use std::fmt;
use std::io;

#[cfg(unix)]
use nix::sys::signal::Signal;

/// How a worker process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum WorkerExit {
    /// It called `exit` (or returned from `main`) with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// It ended, but how is lost: the system reaped it, as it does when the program
    /// ignores `SIGCHLD`.
    Unknown,
}

impl fmt::Display for WorkerExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WorkerExit::Code(code) => write!(f, "exited with code {code}"),
            #[cfg(unix)]
            WorkerExit::Signal(number) => match Signal::try_from(number) {
                Ok(signal) => write!(f, "was killed by {signal}"),
                Err(_) => write!(f, "was killed by signal {number}"),
            },
            #[cfg(not(unix))]
            WorkerExit::Signal(number) => write!(f, "was killed by signal {number}"),
            WorkerExit::Unknown => {
                write!(f, "ended (how is unknown: this program ignores SIGCHLD)")
            }
        }
    }
}

/// What a worker was doing when it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Between its start and its first message to the pool.
    Starting,
    /// Running the pool's initializer.
    Initializer {
        /// The initializer's full path.
        name: &'static str,
    },
    /// Running a task on one input of a call.
    Task {
        /// The task's full path.
        name: &'static str,
        /// The input's position among the call's inputs, counted from 1.
        input: usize,
    },
    /// Waiting for a request: it was gone when the pool sent it one.
    Idle,
    /// Leaving, after the pool closed its channel.
    ShuttingDown,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Starting => write!(f, "while starting"),
            Stage::Initializer { name } => {
                write!(f, "in the initializer {}()", within_crate(name))
            }
            Stage::Task { name, input } => {
                write!(
                    f,
                    "on the {} input of {}",
                    Ordinal(*input),
                    within_crate(name)
                )
            }
            Stage::Idle => write!(f, "while idle"),
            Stage::ShuttingDown => write!(f, "while shutting down"),
        }
    }
}

/// A task's name as its own crate calls it: `square` for `worker_failure::square`,
/// `one::f` for `reliability::one::f`. The program's crate is the one the reader is in.
/// Type arguments are shown by their last segment: `echo<HashMap<String, u64>>` rather
/// than `echo<std::collections::hash::map::HashMap<alloc::string::String, u64>>`.
fn within_crate(name: &str) -> String {
    let (path, arguments) = name.split_at(name.find('<').unwrap_or(name.len()));
    let path = path.split_once("::").map_or(path, |(_, rest)| rest);
    let mut short = path.to_owned();
    let mut word = String::new();
    for c in arguments.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            short.push_str(word.rsplit("::").next().unwrap_or_default());
            word.clear();
            short.push(c);
        }
    }
    short.push_str(word.rsplit("::").next().unwrap_or_default());
    short
}

/// A position said as a reader counts: 1st, 2nd, 3rd, 4th, 11th, 21st.
struct Ordinal(usize);

impl fmt::Display for Ordinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        let suffix = match (n % 10, n % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        write!(f, "{n}{suffix}")
    }
}

/// An error of a [`Pool`](crate::Pool). Its `Display` is one line, fit for `error: …`.
///
/// Most errors belong to one input: [`Pool::map`](crate::Pool::map) returns the first of
/// them, and the pool goes on. [`PoolError::Broken`] is the pool's own: it runs nothing
/// more.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// This build of the library cannot start workers with `method` on this platform.
    Unsupported {
        /// The start method asked for.
        method: &'static str,
        /// Why it is not available here.
        reason: &'static str,
    },
    /// A spawned worker reached `Pool::new` because `main` never called
    /// `forkspawn::init()`.
    NotInitialized,
    /// The worker could not be started.
    Launch {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What the system said.
        source: io::Error,
    },
    /// The worker ended without answering. A worker that exited while starting under
    /// spawn or forkserver most often means `main` does not call `forkspawn::init()`
    /// first (in a test binary: that it has no `forkspawn::test_support!()`).
    Died {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What it was doing.
        stage: Stage,
        /// How it ended.
        exit: WorkerExit,
    },
    /// The task (or initializer) panicked on this input.
    Panicked {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What it was doing.
        stage: Stage,
        /// The panic's message.
        message: String,
    },
    /// The worker's initializer returned an error.
    InitializerFailed {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// The error, in words.
        message: String,
    },
    /// The worker could not run the task on this input: no such task in the program, an
    /// input it cannot decode, a result it cannot encode or send.
    Refused {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What it was doing.
        stage: Stage,
        /// Why, in words.
        reason: String,
    },
    /// The worker sent what the pool did not ask for: a reply to no request it awaits (a
    /// process its task forked answering too), or a second `Ready`. Never taken as an
    /// answer: the worker is killed and replaced.
    Protocol {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What it was doing.
        stage: Stage,
        /// What it sent.
        what: &'static str,
    },
    /// The pool's settings ask for what it cannot do.
    Setting {
        /// The setting, as written (`workers(0)`).
        setting: String,
        /// Why it is refused.
        reason: String,
    },
    /// The input could not be encoded (its `Serialize` failed, or it is larger than a
    /// message can carry).
    Encode {
        /// Which input.
        stage: Stage,
        /// Why, in words.
        reason: String,
    },
    /// The worker's result could not be decoded into the type the task returns.
    Decode {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What it was doing.
        stage: Stage,
        /// Why, in words.
        reason: String,
    },
    /// Talking to the worker failed.
    Channel {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What it was doing.
        stage: Stage,
        /// What the system said.
        source: io::Error,
    },
    /// The worker did not answer in time; the pool killed and replaced it.
    TimedOut {
        /// The worker, by name (`SpawnProcess-3`), as Python names processes.
        worker: String,
        /// What it was doing.
        stage: Stage,
        /// How long the pool waited.
        waited: std::time::Duration,
    },
    /// The pool was told to refuse to fork in a process with other threads, and the
    /// process that forks has more than one.
    ThreadedFork {
        /// How many threads it has; `None`: the number cannot be known here.
        threads: Option<usize>,
        /// True if the process that forks is the fork server, not this one.
        server: bool,
    },
    /// The caller stopped this input ([`Pool::kill`](crate::Pool::kill)): it was
    /// dropped from the queue, or its worker was killed and replaced.
    Killed {
        /// Which input.
        stage: Stage,
    },
    /// This handle's result was already taken.
    AlreadyTaken,
    /// A worker could not be started or initialised again, which breaks the pool: it
    /// runs nothing more.
    Broken {
        /// That failure, in words.
        cause: String,
    },
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Unsupported { method, reason } => write!(
                f,
                "{method} is not available on {}: {reason}",
                std::env::consts::OS,
            ),
            PoolError::NotInitialized => write!(
                f,
                "started as a worker or fork server, but main did not call forkspawn::init() \
                 first"
            ),
            PoolError::Launch { worker, source } => {
                write!(f, "cannot start {worker}: {source}")
            }
            PoolError::Died {
                worker,
                stage: Stage::Starting,
                exit,
            } if !worker.starts_with("ForkProcess")
                && matches!(exit, WorkerExit::Code(_))
                && crate::worker::test_support::test_name().is_none() =>
            {
                write!(
                    f,
                    "worker {worker} {exit} while starting: is init() first in main?"
                )
            }
            PoolError::Died {
                worker,
                stage,
                exit,
            } => write!(f, "worker {worker} {exit} {stage}"),
            PoolError::Panicked {
                worker,
                stage,
                message,
            } => write!(f, "worker {worker} panicked {stage}: {message}"),
            PoolError::InitializerFailed { worker, message } => {
                write!(f, "the initializer failed in worker {worker}: {message}")
            }
            PoolError::Refused {
                worker,
                stage,
                reason,
            } => write!(f, "worker {worker} refused a request {stage}: {reason}"),
            PoolError::Channel {
                worker,
                stage,
                source,
            } => write!(f, "lost the channel to worker {worker} {stage}: {source}"),
            PoolError::Protocol {
                worker,
                stage,
                what,
            } => write!(f, "worker {worker} broke the protocol {stage}: {what}"),
            PoolError::Setting { setting, reason } => {
                write!(f, "refusing the pool's setting {setting}: {reason}")
            }
            PoolError::TimedOut {
                worker,
                stage,
                waited,
            } => write!(f, "worker {worker} timed out after {waited:?} {stage}"),
            PoolError::ThreadedFork {
                threads: Some(threads),
                server: false,
            } => write!(
                f,
                "refusing to fork with {threads} threads running: workers may \
                 deadlock (use spawn or forkserver)"
            ),
            PoolError::ThreadedFork {
                threads: Some(threads),
                server: true,
            } => write!(
                f,
                "refusing to fork: the fork server has {threads} threads \
                 (start threads after init())"
            ),
            PoolError::ThreadedFork { threads: None, .. } => write!(
                f,
                "refusing to fork: this platform cannot tell how many threads run"
            ),
            PoolError::Encode { stage, reason } => {
                write!(f, "cannot encode the input {stage}: {reason}")
            }
            PoolError::Decode {
                worker,
                stage,
                reason,
            } => write!(
                f,
                "cannot decode the result of worker {worker} {stage}: {reason}"
            ),
            PoolError::Killed { stage } => write!(f, "killed by the caller {stage}"),
            PoolError::AlreadyTaken => {
                write!(f, "this task's result was already taken")
            }
            PoolError::Broken { cause } if cause.is_empty() => {
                write!(f, "the pool is broken by an earlier failure")
            }
            PoolError::Broken { cause } => write!(f, "the pool is broken: {cause}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Launch { source, .. } | PoolError::Channel { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unsupported_method_is_one_clear_line() {
        let error = PoolError::Unsupported {
            method: "fork",
            reason: "fork() is Unix-only",
        };
        let text = error.to_string();
        assert!(text.starts_with("fork is not available on "));
        assert!(text.ends_with(": fork() is Unix-only"));
        assert!(!text.contains('\n'));
    }

    #[test]
    fn a_generic_task_is_named_by_its_types_last_segments() {
        let name = "demo::echo<std::collections::hash::map::HashMap<alloc::string::String, u64>>";
        assert_eq!(within_crate(name), "echo<HashMap<String, u64>>");
        assert_eq!(within_crate("demo::one::f"), "one::f");
        assert_eq!(
            within_crate("demo::pair<(u8, [i32; 2])>"),
            "pair<(u8, [i32; 2])>"
        );
    }

    #[test]
    fn positions_are_ordinals() {
        let said: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111, 5001]
            .map(|n| Ordinal(n).to_string())
            .into();
        let expected = [
            "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd",
            "101st", "111th", "5001st",
        ];
        assert_eq!(said, expected);
    }

    #[test]
    fn a_death_names_the_worker_the_cause_and_the_stage() {
        let error = PoolError::Died {
            worker: "SpawnProcess-2".to_owned(),
            stage: Stage::Task {
                name: "crate_name::m::f",
                input: 3,
            },
            exit: WorkerExit::Signal(9),
        };
        assert_eq!(
            error.to_string(),
            "worker SpawnProcess-2 was killed by SIGKILL on the 3rd input of m::f"
        );
    }
}
