//! The pool on platforms other than Unix: it compiles, and refuses to start.
//!
//! There is no `fork()` outside Unix. This library's spawn hands a worker its channel as a
//! Unix socket on standard input, and waits on its workers with `poll(2)`; a Windows
//! spawn would need a named pipe or a loopback socket and another way to wait, and has not
//! been written. So every start method is unavailable here, and says so.

use std::convert::Infallible;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::PoolError;
use crate::start_method::StartMethod;
use crate::task::{Initializer, Task};

/// A pool of worker processes. None can be started on this platform: see the module's
/// documentation.
pub struct Pool {
    never: Infallible,
}

/// Settings of a pool before its workers start. Made by [`Pool::builder`].
#[must_use]
pub struct PoolBuilder {
    method: StartMethod,
}

impl PoolBuilder {
    pub fn workers(self, _workers: usize) -> Self {
        self
    }

    pub fn initializer(self, _initializer: Initializer) -> Self {
        self
    }

    pub fn env_remove(self, _name: impl Into<String>) -> Self {
        self
    }

    pub fn threaded_fork(self, _policy: crate::ThreadedFork) -> Self {
        self
    }

    pub fn timeout(self, _timeout: std::time::Duration) -> Self {
        self
    }

    // ANCHOR: start
    /// Fails: no start method is available on this platform.
    pub fn start(self) -> Result<Pool, PoolError> {
        Err(PoolError::Unsupported {
            method: self.method,
        })
    }
    // ANCHOR_END: start
}

impl Pool {
    pub fn new(method: StartMethod, workers: usize) -> Result<Pool, PoolError> {
        Pool::builder(method).workers(workers).start()
    }

    pub fn builder(method: StartMethod) -> PoolBuilder {
        PoolBuilder { method }
    }

    pub fn method(&self) -> StartMethod {
        match self.never {}
    }

    pub fn worker_pids(&self) -> Vec<u32> {
        match self.never {}
    }

    pub fn map<I, O>(
        &mut self,
        _task: Task<I, O>,
        _inputs: impl IntoIterator<Item = I>,
    ) -> Result<Vec<O>, PoolError>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        match self.never {}
    }

    pub fn shutdown(self) -> Result<(), PoolError> {
        match self.never {}
    }
}
