//! Which start methods this build of the library can use, found by starting a worker with
//! each (or with the one asked for).
//!
//! ```text
//! cargo run -q --example platform
//! cargo run -q --example platform -- spawn
//! ```
//!
//! Chapter: "Platform support" (src/platform.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;

use std::env::consts::{ARCH, FAMILY, OS};
use std::process::ExitCode;

use clap::Parser;
use forkspawn::{Pool, PoolError, StartMethod, task};
use instruments::say;

/// The worker's task: say which process runs it.
fn hello(_: ()) -> String {
    format!("{} answers", forkspawn::current_process_name())
}

/// Which start methods this build can use, found by trying them.
#[derive(Parser)]
#[command(name = "platform")]
struct Args {
    /// Try only this start method (all three if left out)
    #[arg(value_parser = instruments::cli::start_method())]
    method: Option<StartMethod>,
}

// ANCHOR: main
fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = instruments::cli::parse_args();
    say!("this build runs on {OS} ({FAMILY}, {ARCH})");
    let methods = match args.method {
        Some(method) => vec![method],
        None => vec![
            StartMethod::Fork,
            StartMethod::Spawn,
            StartMethod::Forkserver,
        ],
    };
    let mut failed = false;
    for method in methods {
        // Asked of the library by starting a worker, not read from a list.
        match start_one(method) {
            Ok(answer) => say!("{:<10} works: {answer}", method.as_str()),
            Err(error) => {
                say!("error: {error}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn start_one(method: StartMethod) -> Result<String, PoolError> {
    let mut pool = Pool::new(method, 1)?;
    let [answer] = pool.map(task!(hello), [()])?.try_into().unwrap();
    pool.shutdown()?;
    Ok(answer)
}
// ANCHOR_END: main
