//! How a process learns what it is: the main program, a forked worker, or a spawned
//! worker.

use std::ffi::{OsStr, OsString};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

#[cfg(unix)]
use crate::worker;

/// The argument a spawned worker is started with, followed by its name. Python's
/// spawned workers carry `--multiprocessing-fork` on their command line for the same
/// purpose.
pub(crate) const WORKER_FLAG: &str = "--forkspawn-worker";

/// A forked worker's name. An atomic pointer rather than a lock: the child sets it right
/// after `fork()`, when a lock may be held by a parent thread that the child does not
/// have (see the chapter "Fork and threads").
static FORKED_NAME: AtomicPtr<String> = AtomicPtr::new(std::ptr::null_mut());

/// The name of the main program or of a spawned worker, found on the command line.
static STARTED_NAME: OnceLock<String> = OnceLock::new();

/// True once a spawned worker has entered [`init`] and serves tasks.
static SERVING: AtomicBool = AtomicBool::new(false);

// ANCHOR: init
/// Turns a spawned worker into a worker; returns at once in every other process.
///
/// Call it near the top of `main`. A spawned worker executes the program from the
/// start, so everything in `main` before this call runs again in each spawned worker,
/// as a Python module's top level runs again in each spawned child (there named
/// `__mp_main__`). Everything after it is the analogue of `if __name__ == "__main__":`
/// and runs in the parent only. A forked worker never runs `main` at all: it is a copy
/// of the parent taken inside the pool.
pub fn init() {
    let Some(name) = spawned_worker_name() else {
        return;
    };
    SERVING.store(true, Ordering::Relaxed);
    // A panic that escapes the worker's loop ends here: it must not unwind into `main`,
    // which would go on as if it were the parent.
    #[cfg(unix)]
    std::process::exit(worker::contain(|| worker::serve_spawned(&name)));
    #[cfg(not(unix))]
    {
        // No pool starts workers on this platform.
        eprintln!("{name}: this library starts no workers on this platform");
        std::process::exit(1)
    }
}
// ANCHOR_END: init

/// The name of this process, in Python's style: `MainProcess`, `ForkProcess-1`,
/// `SpawnProcess-2`, …
pub fn current_process_name() -> String {
    let forked = FORKED_NAME.load(Ordering::Acquire);
    if !forked.is_null() {
        // SAFETY: set once per process from a leaked `Box`, never freed.
        return unsafe { &*forked }.clone();
    }
    STARTED_NAME
        .get_or_init(|| {
            spawned_worker_name().unwrap_or_else(|| "MainProcess".to_owned())
        })
        .clone()
}

/// Names a forked worker, which inherited its parent's name. The parent allocates the
/// name before `fork()`; the child only stores a pointer: no lock, no allocation.
#[cfg(unix)]
#[allow(clippy::box_collection)] // a thin pointer, for one atomic store
pub(crate) fn set_forked_process_name(name: Box<String>) {
    FORKED_NAME.store(Box::into_raw(name), Ordering::Release);
}

/// True in a spawned worker whose `main` has not handed control to [`init`]: a program
/// that forgot to call it, and would otherwise start workers of its own, each of which
/// would do the same. (Python refuses in the same spot, with "An attempt has been made
/// to start a new process before the current process has finished its bootstrapping
/// phase".)
#[cfg(unix)]
pub(crate) fn is_uninitialized_spawned_worker() -> bool {
    spawned_worker_name().is_some() && !SERVING.load(Ordering::Relaxed)
}

fn spawned_worker_name() -> Option<String> {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(OsStr::new(WORKER_FLAG)) {
        return None;
    }
    Some(args.next()?.to_string_lossy().into_owned())
}

/// The program's command line as the user gave it: a spawned worker's starts with the
/// worker flag and its name, which are taken out. Python's spawn likewise hands the
/// parent's `sys.argv` to the child.
pub fn program_args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|flag| flag == WORKER_FLAG) {
        args.drain(1..3.min(args.len()));
    }
    args
}
