//! What a worker can learn about its parent: a secret in memory, an environment variable,
//! and the layout of the address space.
//!
//! ```text
//! cargo run -q --example secrets -- fork
//! cargo run -q --example secrets -- spawn --scrub-env
//! ```
//!
//! Chapter: "Security" (src/secrets.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;
extern crate nix;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock, PoisonError};

use clap::Parser;
use forkspawn::{Pool, StartMethod, task};
use instruments::inspect;
use instruments::memory_scan::writable_memory_holds;
use instruments::say;

/// A secret the parent holds in memory only: neither in its environment nor its
/// arguments. Made at run time, after `init()`, so that it is in the parent's memory alone,
/// not in the program's image that every worker maps.
static SECRET: Mutex<Option<String>> = Mutex::new(None);

/// What the task receives instead of the secret: its bytes turned, so that the worker can
/// look for them without being handed them.
const MASK: u8 = 0x5A;

fn masked(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| b ^ MASK).collect()
}

/// Whether this process's writable memory holds the secret, given it masked.
fn holds_secret(masked_secret: &[u8]) -> String {
    match writable_memory_holds(&masked(masked_secret)) {
        Ok(true) => "holds it".to_owned(),
        Ok(false) => "does not hold it".to_owned(),
        Err(error) => format!("cannot be read ({error})"),
    }
}

/// A token the parent puts in its environment, as many programs receive credentials.
const TOKEN_VARIABLE: &str = "FORK_OR_SPAWN_TOKEN";

// ANCHOR: layout
/// A static: it lies in the program's own image.
static IN_THE_PROGRAM: u8 = 0;
/// The first heap allocation of `main`, made before `init()` in every process.
static ON_THE_HEAP: OnceLock<Box<u64>> = OnceLock::new();

/// Where this process's program, heap, shared libraries and stack lie. With address space
/// layout randomisation (ASLR), each of these starts at a random place for each new
/// program.
fn layout() -> [String; 2] {
    let heap = ON_THE_HEAP
        .get()
        .map_or(std::ptr::null(), |b| &**b as *const u64);
    let stack = inspect::stack_start(std::process::id()).unwrap_or(0);
    [
        format!("code {:p}, heap {heap:p}", &IN_THE_PROGRAM),
        format!(
            "libc {:p}, stack {stack:#x}",
            nix::libc::getpid as *const ()
        ),
    ]
}
// ANCHOR_END: layout

// ANCHOR: look
/// The worker's task: what can this process see? It is given the secret masked, and
/// searches its own writable memory for the secret's bytes.
fn look_around(masked_secret: Vec<u8>) {
    for part in layout() {
        say!("layout: {part}");
    }
    say!(
        "this process's memory {} (the parent's secret)",
        holds_secret(&masked_secret)
    );
    match std::env::var(TOKEN_VARIABLE) {
        Ok(token) => say!("{TOKEN_VARIABLE} is in the environment: {token:?}"),
        Err(_) => say!("{TOKEN_VARIABLE} is not in the environment"),
    }
}
// ANCHOR_END: look

/// What a worker can see of its parent's secrets and layout, under fork and spawn.
#[derive(Parser)]
#[command(name = "secrets")]
struct Args {
    /// How the worker starts
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
    /// Start the worker without the token in its environment
    #[arg(long)]
    scrub_env: bool,
}

// ANCHOR: main
fn main() -> ExitCode {
    ON_THE_HEAP.get_or_init(|| Box::new(0));
    forkspawn::init();
    let args: Args = instruments::cli::parse_args();
    // SAFETY: no other thread exists yet to read the environment meanwhile.
    unsafe { std::env::set_var(TOKEN_VARIABLE, "tok-4f9a") };
    let secret = format!(
        "hunter2-{:x}",
        RandomState::new().hash_one(std::process::id())
    );
    let masked_secret = masked(secret.as_bytes());
    *SECRET.lock().unwrap_or_else(PoisonError::into_inner) = Some(secret);
    say!("the parent's secrets: one in memory, one in {TOKEN_VARIABLE}");
    say!(
        "this process's memory {} (the control)",
        holds_secret(&masked_secret)
    );
    for part in layout() {
        say!("layout: {part}");
    }

    let mut pool = Pool::builder(args.method);
    if args.scrub_env {
        pool = pool.env_remove(TOKEN_VARIABLE);
    }
    let result = pool.start().and_then(|mut pool| {
        pool.map(task!(look_around), [masked_secret])?;
        pool.shutdown()
    });
    instruments::cli::exit_code(result)
}
// ANCHOR_END: main
