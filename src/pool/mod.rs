//! The top floor: what a program drives. The pool hands tasks to its workers and watches
//! them with `poll(2)`; it never asks how a worker was started.

mod builder;
#[cfg(unix)]
mod link;
#[cfg(unix)]
mod running;

#[cfg(not(unix))]
pub use crate::start_method::unsupported::Pool;
pub use builder::{DEFAULT_TIMEOUT, PoolBuilder};
#[cfg(unix)]
pub use running::Pool;
