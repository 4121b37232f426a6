//! The top floor: what a program drives. The pool hands tasks to its workers and watches
//! them with `poll(2)` (`WSAPoll` on Windows); it never asks how a worker was started.

mod builder;
#[cfg(any(unix, windows))]
mod calls;
#[cfg(any(unix, windows))]
mod limits;
#[cfg(any(unix, windows))]
mod link;
#[cfg(any(unix, windows))]
mod readiness;
#[cfg(any(unix, windows))]
mod running;

#[cfg(not(any(unix, windows)))]
pub use crate::start_method::unsupported::Pool;
pub use builder::{DEFAULT_TIMEOUT, PoolBuilder};
#[cfg(any(unix, windows))]
pub use calls::{Handle, Results, Unordered};
#[cfg(any(unix, windows))]
pub use running::Pool;
