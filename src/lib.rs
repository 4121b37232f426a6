//! # forkspawn
//!
//! A small process pool with two ways to start a worker, written to be read beside the
//! book *Fork or Spawn*:
//!
//! - **fork** copies the running parent: the worker starts with the parent's memory, descriptors,
//!   signal dispositions and address layout, and never runs `main`;
//! - **spawn** executes the program again from the start: the worker runs `main` up to
//!   [`init()`], which turns it into a worker and never returns.
//!
//! ```no_run
//! # extern crate forkspawn;
//! use forkspawn::{Pool, StartMethod, task};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn main() -> Result<(), forkspawn::PoolError> {
//!     forkspawn::init(); // a spawned worker stops here and serves tasks
//!     let mut pool = Pool::new(StartMethod::Spawn, 2)?;
//!     assert_eq!(pool.map(task!(square), [1, 2, 3])?, [1, 4, 9]);
//!     pool.shutdown()
//! }
//! ```
//!
//! The pool never asks how a worker was started: each start method lives in a file of
//! its own (`popen_fork.rs`, `popen_spawn.rs`) behind the small `Popen` trait in
//! `start_method.rs`.

// ANCHOR: modules
pub mod ballast;
mod bootstrap;
#[cfg(unix)]
mod channel;
pub mod cli;
pub mod console;
mod error;
#[cfg(unix)]
pub mod floors;
#[cfg(target_os = "linux")]
pub mod inspect;
#[cfg(unix)]
mod pool;
#[cfg(unix)]
mod popen_fork;
#[cfg(unix)]
mod popen_spawn;
mod start_method;
mod task;
mod unlocked_io;
#[cfg(not(unix))]
mod unsupported;
#[cfg(unix)]
mod worker;
// ANCHOR_END: modules

pub use bootstrap::{current_process_name, init, program_args};
pub use error::{PoolError, Stage, WorkerExit};
#[cfg(unix)]
pub use pool::{DEFAULT_TIMEOUT, Pool, PoolBuilder};
pub use start_method::{StartMethod, ThreadedFork};
pub use task::{Initializer, Task};
#[cfg(not(unix))]
pub use unsupported::{Pool, PoolBuilder};

/// Items the `task!` and `initializer!` macros expand to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::task::{InitOutcome, TASKS, TaskEntry, run_initializer, run_task};
    pub use linkme;
}
