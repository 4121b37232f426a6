//! What a worker costs in memory, under fork and under spawn.
//!
//! The parent writes `--parent-mib` MiB of memory, then starts two workers. While they
//! wait for work, the kernel is asked how much memory each process uses: RSS, PSS and
//! USS, from `/proc/PID/smaps_rollup`.
//!
//! ```text
//! cargo run -q --example memory -- fork
//! cargo run -q --example memory -- spawn --parent-mib 512
//! ```
//!
//! Chapter: "Memory overhead" (src/memory.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;

use std::process::ExitCode;
use std::sync::{Mutex, PoisonError};

use clap::Parser;
use forkspawn::{Pool, StartMethod, task};
use instruments::ballast::Ballast;
use instruments::inspect::{self, MemoryUsage, Mib};
use instruments::say;

/// The parent's data: written by the parent before the workers start.
static BALLAST: Mutex<Option<Ballast>> = Mutex::new(None);

/// The task: nothing but report which process ran it.
fn process_id(_: ()) -> u32 {
    std::process::id()
}

/// What each process of a pool costs in memory, under fork and spawn.
#[derive(Parser)]
#[command(name = "memory")]
struct Args {
    /// How the two workers start
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
    /// How much memory the parent writes before it starts the workers, in MiB
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u16).range(16..))]
    parent_mib: u16,
}

// ANCHOR: main
fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = instruments::cli::parse_args();
    instruments::cli::exit_code(run(&args))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let ballast = Ballast::new(args.parent_mib.into())?;
    let parent_data = Mib(u64::from(args.parent_mib) << 20);
    say!("the parent writes {parent_data} of data");
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(ballast);

    let mut pool = Pool::new(args.method, 2)?;
    let worker_pids = pool.map(task!(process_id), [(), ()])?;
    say!(
        "{} workers started by {}; both are idle now",
        worker_pids.len(),
        args.method
    );

    let mut rows = vec![("MainProcess".to_owned(), std::process::id())];
    let kind = args.method.process_kind();
    rows.extend((1..).map(|n| format!("{kind}-{n}")).zip(worker_pids));
    let mut usages = Vec::new();
    say!(
        "{:<15} {:>10} {:>10} {:>10}",
        "process",
        "RSS",
        "PSS",
        "USS"
    );
    for (name, pid) in &rows {
        let usage = inspect::memory_usage(*pid)?;
        say!(
            "{name:<15} {:>10} {:>10} {:>10}",
            usage.rss,
            usage.pss,
            usage.uss
        );
        usages.push(usage);
    }
    let total =
        |field: fn(&MemoryUsage) -> Mib| Mib(usages.iter().map(|u| field(u).0).sum());
    let (rss, pss, uss) = (total(|u| u.rss), total(|u| u.pss), total(|u| u.uss));
    say!("{:<15} {rss:>10} {pss:>10} {uss:>10}", "all three");

    for ((name, _), usage) in rows.iter().zip(&usages).skip(1) {
        say!("{name}: {}", verdict(usage, parent_data));
    }
    say!("{}", totals_verdict(rss, pss));
    pool.shutdown()?;
    Ok(())
}
// ANCHOR_END: main

// ANCHOR: verdict
/// What a worker's figures say about the parent's data, in words.
fn verdict(worker: &MemoryUsage, parent_data: Mib) -> &'static str {
    let maps_parent_data = worker.rss.0 >= parent_data.0 / 2;
    let owns_little = worker.uss.0 < parent_data.0 / 20;
    match (maps_parent_data, owns_little) {
        (true, true) => "maps the parent's data but owns little: shared",
        (true, false) => "owns much of the parent's data: copied",
        (false, _) => "maps none of the parent's data: only its own",
    }
}

/// Whether adding up RSS overstates the memory in use, compared with PSS.
fn totals_verdict(rss: Mib, pss: Mib) -> &'static str {
    if rss.0 > pss.0 * 2 {
        "RSS total over twice the PSS total: shared pages counted per process"
    } else {
        "RSS and PSS totals close: few pages shared between the processes"
    }
}
// ANCHOR_END: verdict
