//! The pool on platforms other than Unix and Windows: it compiles, and refuses to start.
//!
//! There is no `fork()` outside Unix, and this library's spawn is written for Unix
//! (`posix_spawn(3)`, a Unix socket, `poll(2)`) and Windows (`CreateProcess`, a loopback
//! socket, `WSAPoll`) only. So every start method is unavailable here, and says so
//! ([`StartMethod::unsupported`]); the pool's settings are the same as elsewhere.

use std::convert::Infallible;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::start_method::StartMethod;
use crate::worker::error::PoolError;
use crate::worker::task::Task;

/// A pool of worker processes. None can be started on this platform: see the module's
/// documentation.
pub struct Pool {
    never: Infallible,
}

impl Pool {
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
