//! A module-scope variable under fork and under spawn: the article's first example, in
//! Rust.
//!
//! A static list stands for a Python list at module scope. The parent appends to it,
//! then two workers each append to their own view of it. Which list does each process
//! see?
//!
//! ```text
//! cargo run -q --example module_scope -- fork
//! cargo run -q --example module_scope -- spawn
//! ```
//!
//! Chapter: "A module-scope variable" (src/module-scope.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;

use std::process::ExitCode;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use clap::Parser;
use forkspawn::{Pool, PoolError, StartMethod, task};
use instruments::say;

// ANCHOR: module_scope
/// The "module scope" list. It is created, and announces itself, the first time any
/// code in this process touches it.
static MODULE_SCOPE_LIST: LazyLock<Mutex<Vec<String>>> = LazyLock::new(|| {
    let list = vec!["initial".to_owned()];
    say!(
        "[MODULE SCOPE] List(id: {:p}) initially: {list:?}",
        list_id()
    );
    Mutex::new(list)
});

/// The list's address: what `id()` shows in Python.
fn list_id() -> *const LazyLock<Mutex<Vec<String>>> {
    &raw const MODULE_SCOPE_LIST
}
// ANCHOR_END: module_scope

fn list() -> MutexGuard<'static, Vec<String>> {
    MODULE_SCOPE_LIST
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

// ANCHOR: task
/// The task each worker runs: wait `count` seconds, then look at the list and append to
/// it.
fn append_to_shared_list(count: u64) {
    thread::sleep(Duration::from_secs(count));
    let mut list = list();
    say!("[FUNC SCOPE] List({:p}) initially : {list:?}", list_id());
    list.push(format!("worker {count}"));
    say!("Updated List(id: {:p}) {list:?}", list_id());
}
// ANCHOR_END: task

/// A module-scope list under fork and spawn: which list does each process see?
#[derive(Parser)]
#[command(name = "module_scope")]
struct Args {
    /// How the two workers start
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
}

// ANCHOR: main
fn main() -> ExitCode {
    // "Module scope": runs in the parent and again in every spawned worker.
    LazyLock::force(&MODULE_SCOPE_LIST);
    forkspawn::init();
    // From here on, only the parent: the analogue of `if __name__ == "__main__":`.
    let args: Args = instruments::cli::parse_args();
    say!("Start subprocess with '{}' method", args.method);
    instruments::cli::exit_code(run(args.method))
}

fn run(method: StartMethod) -> Result<(), PoolError> {
    {
        let mut list = list();
        list.push("parent".to_owned());
        say!("Updated List(id: {:p}): {list:?}", list_id());
    } // The lock is released here, before any fork: a child must not inherit it held.
    let mut pool = Pool::new(method, 2)?;
    pool.map(task!(append_to_shared_list), [1, 2])?;
    pool.shutdown()?;
    say!("List(id: {:p}) finally: {:?}", list_id(), list());
    Ok(())
}
// ANCHOR_END: main
