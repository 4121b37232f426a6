//! A pool's settings, the same on every platform: what differs is whether `start` can
//! start anything.

use std::time::Duration;

use super::Pool;
use crate::start_method::StartMethod;
use crate::worker::error::PoolError;
use crate::worker::task::Initializer;
use crate::worker::threads::ThreadedFork;

/// How long a worker may take to answer, unless [`PoolBuilder::timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Settings of a pool before its workers start. Made by [`Pool::builder`].
#[must_use]
#[derive(Debug)]
pub struct PoolBuilder {
    pub(crate) method: StartMethod,
    pub(crate) workers: usize,
    pub(crate) initializer: Option<Initializer>,
    pub(crate) env_remove: Vec<String>,
    pub(crate) threaded_fork: ThreadedFork,
    pub(crate) timeout: Duration,
    pub(crate) max_tasks_per_child: Option<usize>,
}

impl PoolBuilder {
    /// How many workers to start; the default is one. Zero, or a number this machine
    /// cannot hold (more processes than it may run, more than one descriptor each can be
    /// opened for), makes [`PoolBuilder::start`] fail with [`PoolError::Setting`].
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Replaces a worker once it has run `tasks` inputs, as Python's
    /// `max_tasks_per_child`: what a task leaks or leaves behind ends with its worker.
    /// Zero is refused when the pool starts ([`PoolError::Setting`]).
    pub fn max_tasks_per_child(mut self, tasks: usize) -> Self {
        self.max_tasks_per_child = Some(tasks);
        self
    }

    /// A function every worker runs once, before its first task.
    pub fn initializer(mut self, initializer: Initializer) -> Self {
        self.initializer = Some(initializer);
        self
    }

    /// Starts workers without the environment variable `name`: `std::env::var` in a worker
    /// does not find it. A spawned worker never receives it. A worker started by fork or
    /// by the fork server removes it from its environment as it starts, but still shows it
    /// in `/proc/PID/environ` (the environment it was started with), and the memory it
    /// copied may hold the value: the parent's under fork, the fork server's under
    /// forkserver (the server is started with the whole environment, and keeps it).
    pub fn env_remove(mut self, name: impl Into<String>) -> Self {
        self.env_remove.push(name.into());
        self
    }

    /// What a fork does when this process has more than one thread: warn once (the
    /// default), refuse, or allow silently.
    pub fn threaded_fork(mut self, policy: ThreadedFork) -> Self {
        self.threaded_fork = policy;
        self
    }

    // ANCHOR: timeout
    /// How long the pool waits for a worker: to run a task (unless the task says
    /// otherwise, [`Task::timeout`](crate::Task::timeout)) or the initializer, with the worker's start-up if it
    /// has not said it is ready, and to exit once its channel is closed. A worker that
    /// takes longer is killed and replaced, and its input fails with
    /// [`PoolError::TimedOut`]. The default is [`DEFAULT_TIMEOUT`]; zero
    /// is refused when the pool starts ([`PoolError::Setting`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        // A century is no limit, and `Instant` cannot count much further.
        self.timeout = timeout.min(Duration::from_secs(100 * 365 * 24 * 3600));
        self
    }
    // ANCHOR_END: timeout

    /// The start method the workers will be started with.
    pub fn method(&self) -> StartMethod {
        self.method
    }

    // ANCHOR: start
    /// Starts every worker and, if there is an initializer, waits until each has run it.
    ///
    /// # Errors
    ///
    /// [`PoolError::Setting`] for a setting it cannot hold; otherwise the first worker
    /// that could not be started or initialised, and why. No worker is left running.
    pub fn start(self) -> Result<Pool, PoolError> {
        #[cfg(any(unix, windows))]
        return Pool::start(self);
        // No start method is available elsewhere (see `start_method/unsupported.rs`).
        #[cfg(not(any(unix, windows)))]
        return Err(self.method.unsupported());
    }
    // ANCHOR_END: start
}

impl Pool {
    /// Starts a pool of `workers` workers with no initializer.
    ///
    /// # Errors
    ///
    /// As [`PoolBuilder::start`].
    pub fn new(method: StartMethod, workers: usize) -> Result<Pool, PoolError> {
        Pool::builder(method).workers(workers).start()
    }

    /// Settings for a pool whose workers start with `method`.
    pub fn builder(method: StartMethod) -> PoolBuilder {
        PoolBuilder {
            method,
            workers: 1,
            initializer: None,
            env_remove: Vec::new(),
            threaded_fork: ThreadedFork::default(),
            timeout: DEFAULT_TIMEOUT,
            max_tasks_per_child: None,
        }
    }
}
