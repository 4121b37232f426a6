//! Which start methods this build of the library supports, which one Python picks on each
//! platform, and a worker started with the method asked for.
//!
//! ```text
//! cargo run -q --example platform -- fork
//! cargo run -q --example platform -- spawn
//! ```
//!
//! Chapter: "Platform support" (src/platform.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;

use std::env::consts::{ARCH, FAMILY, OS};
use std::process::ExitCode;

use clap::Parser;
use forkspawn::{Pool, PoolError, StartMethod, say, task};

// ANCHOR: python
/// What `multiprocessing` uses when a Python program does not choose, and why. From the
/// Python documentation, "Contexts and start methods".
const PYTHON_DEFAULTS: [(&str, &str, &str); 4] = [
    (
        "Linux",
        "fork until 3.13",
        "the oldest and cheapest way on Unix",
    ),
    (
        "Linux",
        "forkserver since 3.14",
        "fork is unsafe in a parent that runs threads",
    ),
    (
        "macOS",
        "spawn since 3.8",
        "macOS system libraries may run threads, and crash after fork",
    ),
    ("Windows", "spawn", "Windows has no fork"),
];
// ANCHOR_END: python

/// The worker's task: say which process runs it.
fn hello(_: ()) -> String {
    format!("{} answers", forkspawn::current_process_name())
}

/// Which start methods this build supports, and a worker started with one of them.
#[derive(Parser)]
#[command(name = "platform")]
struct Args {
    /// How the worker starts
    method: StartMethod,
}

// ANCHOR: main
fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = forkspawn::instruments::cli::parse_args();
    say!("this build runs on {OS} ({FAMILY}, {ARCH})");
    let available: Vec<&str> = StartMethod::available()
        .iter()
        .map(|m| m.as_str())
        .collect();
    say!("start methods it supports: {}", available.join(", "));
    for (platform, default, reason) in PYTHON_DEFAULTS {
        say!("Python on {platform:<7}: {default:<22} ({reason})");
    }
    forkspawn::instruments::cli::exit_code(start_one(args.method))
}

fn start_one(method: StartMethod) -> Result<(), PoolError> {
    let mut pool = Pool::new(method, 1)?;
    let [answer] = pool.map(task!(hello), [()])?.try_into().unwrap();
    say!("started a worker with {method}: {answer}");
    pool.shutdown()
}
// ANCHOR_END: main
