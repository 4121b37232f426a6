//! # forkspawn
//!
//! A small process pool with three ways to start a worker, written to be read beside the
//! book *Fork or Spawn*:
//!
//! - **fork** copies the running parent: the worker starts with the parent's memory, descriptors,
//!   signal dispositions and address layout, and never runs `main`;
//! - **spawn** executes the program again from the start: the worker runs `main` up to
//!   [`init()`], which turns it into a worker and never returns;
//! - **forkserver** forks the worker from a small server, itself started by spawn and
//!   stopped at [`init()`]: the worker has the state `main` built before `init()`, and
//!   none of the parent's.
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
//!     // Tiny tasks go faster in chunks: one round trip for 100 inputs.
//!     let many = pool.map(task!(square).chunksize(100), 0..10_000)?;
//!     assert_eq!(many[9_999], 99_980_001);
//!     pool.shutdown()
//! }
//! ```
//!
//! The whole surface, as Python's `concurrent.futures` and `multiprocessing.Pool` have it:
//!
//! | Python | here |
//! |---|---|
//! | `ProcessPoolExecutor(max_workers, mp_context, initializer, max_tasks_per_child)` | [`Pool::builder`], [`PoolBuilder`] |
//! | `list(executor.map(fn, xs, chunksize=…, timeout=…))` | [`Pool::map`] with [`Task::chunksize`], [`Task::timeout`] |
//! | `Pool.imap`, `Pool.imap_unordered` / `as_completed` | [`Pool::imap`], [`Pool::imap_unordered`] |
//! | `executor.submit`, `future.result(timeout)`, `future.cancel` | [`Pool::submit`], [`Pool::wait`], [`Pool::kill`] |
//! | `if __name__ == "__main__":` | [`init()`], first in `main` |
//! | an exception in a task; `BrokenProcessPool` | [`PoolError`], one input's; [`PoolError::Broken`] |
//!
//! A task that panics fails its own input, and its worker serves on; a worker that dies or
//! runs out of time fails the input it was running and is replaced. A pool is `Send`: it
//! can move to another thread, and is driven by the thread that holds it (it starts no
//! thread of its own). Its workers die with the thread that started them (their
//! parent-death signal): move a pool away from a thread that ends, and the workers that
//! thread started die and are replaced, and an input one of them was running fails.
//!
//! The library has three parts, each built on the one below: the pool (`pool/`), which
//! never asks how a worker was started; the start methods (`start_method/`), one file
//! each behind the small `Popen` trait, as CPython has `popen_fork.py`,
//! `popen_spawn_posix.py`, `popen_forkserver.py` and `popen_spawn_win32.py`; and the
//! worker (`worker/`), what runs inside one. The instruments the book's chapters measure
//! and print with (`/proc`, memory ballast, floors, the console, the command line) are not
//! part of it: they are a crate of their own, `instruments/` beside this one, which only
//! the book's programs and tests use, so a crate that depends on forkspawn compiles none
//! of them.

// ANCHOR: modules
/// What a program drives: the pool, its workers' states, its settings.
mod pool;
/// How a worker comes to exist: one file per start method, behind one small trait.
mod start_method;
/// What runs inside a worker, and the wire to it.
mod worker;
// ANCHOR_END: modules

pub use pool::{DEFAULT_TIMEOUT, Pool, PoolBuilder};
#[cfg(any(unix, windows))]
pub use pool::{Handle, Results, Unordered};
#[cfg(unix)]
pub use start_method::popen_forkserver::ForkServer;
pub use start_method::{StartMethod, UnknownStartMethod};
pub use worker::bootstrap::{current_process_name, init, program_args};
pub use worker::error::{PoolError, Stage, WorkerExit};
pub use worker::task::{Initializer, Task};
pub use worker::threads::ThreadedFork;

/// Items the `task!` and `initializer!` macros expand to, and the book's instruments use;
/// not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::worker::task::{
        InitOutcome, TASKS, TaskEntry, identity_of, name_of, run_initializer, run_task,
    };
    pub use crate::worker::test_support::TEST_SUPPORT;
    pub use crate::worker::wire::Bytes;
    pub use linkme;

    /// Writes all of `bytes` to standard output in `write(2)` calls, taking no lock, as the
    /// library writes its own lines in a worker: the book's `say!` prints through it.
    pub fn write_stdout(bytes: &[u8]) -> std::io::Result<()> {
        crate::worker::unlocked_io::write_stdout(bytes)
    }
}
