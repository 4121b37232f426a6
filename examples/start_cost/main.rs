//! What it costs to start workers, against the parent's size, the operating system's floor
//! and CPython's `ProcessPoolExecutor`.
//!
//! For each parent size (0, 32, 64, 128, 256 and 1024 MiB of written memory; `--max-mib 4096`
//! adds 4096), it takes the median time of: a pool with fork, with spawn and with forkserver
//! (start one worker, run one trivial task, shut down), the last both with the fork server
//! running and with a server of its own; a bare fork + `_exit` + wait, also cut in two; and a
//! `posix_spawn` of `/bin/true` + wait. At 0 MiB it also times CPython's pool with fork, spawn
//! and forkserver (`python/start_cost.py`), and pools of 2, 4 and 8 workers. It prints what
//! the figures mean in words that hold on any machine, which the book's check compares.
//!
//! ```text
//! cargo run --release -q --example start_cost
//! cargo run --release -q --example start_cost -- --targets
//! cargo run --release -q --example start_cost -- --json
//! cargo run --release -q --example start_cost -- --svg start-cost.svg
//! ```
//!
//! Chapter: "Performance" (src/start-cost.md). The measuring is in `measure.rs`, the words
//! in `verdicts.rs`, the tables in `table.rs`, the chart in `chart.rs`.

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;
extern crate nix;
extern crate plotters;

mod budget;
mod chart;
mod measure;
mod table;
mod verdicts;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use forkspawn::StartMethod;
use instruments::ballast::Ballast;
use measure::{Method, Row, Runs};

/// Starting workers, against the parent's size, the OS's floor and CPython.
#[derive(Parser)]
#[command(name = "start_cost")]
struct Args {
    /// The largest parent size to measure, in MiB: sizes are 0, 32, 64, 128, 256, 1024, 4096
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=4096))]
    max_mib: u32,
    /// Runs per measurement of this library's pools and of the floors
    #[arg(long, default_value_t = 21, value_parser = clap::value_parser!(u32).range(1..=1001))]
    runs: u32,
    /// Milliseconds that the runs of each measurement of this library fill, at least
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    min_ms: u32,
    /// Runs per measurement of CPython's pools, each in a fresh interpreter
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=101))]
    python_runs: u32,
    /// Seconds the whole benchmark should take at most: past half of them (a busy or slow
    /// machine), each measurement does fewer runs, and the output says so
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3600))]
    budget_s: u32,
    /// Also print the project's own targets, and whether this machine meets them
    #[arg(long)]
    targets: bool,
    /// Print one JSON object instead of the tables
    #[arg(long)]
    json: bool,
    /// Also draw the start cost against the parent's size into this SVG file
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = instruments::cli::parse_args();
    budget::start(Duration::from_secs(args.budget_s.into()));
    instruments::cli::exit_code(run(&args))
}

/// The parent sizes measured, in MiB, up to `--max-mib`.
const SIZES: [u32; 7] = [0, 32, 64, 128, 256, 1024, 4096];

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let python = measure::python_version();
    let runs = Runs {
        pools: args.runs,
        python: args.python_runs,
        min_ms: args.min_ms,
    };
    let sizes: Vec<u32> = SIZES.into_iter().filter(|&s| s <= args.max_mib).collect();
    let mut rows = Vec::new();
    for &parent_mib in &sizes {
        measure::hold(Some(Ballast::new(parent_mib as usize)?));
        rows.extend(measure::medians(&POOLS_AND_SPAWN, 1, parent_mib, runs)?);
        rows.extend(measure::raw_fork(parent_mib, runs)?);
    }
    measure::hold(None);
    let huge = measure::huge_pages(sizes[sizes.len() - 1], runs)?;
    if python.is_some() {
        rows.extend(measure::medians(&CPYTHON, 1, 0, runs)?);
    }
    for workers in [2, 4, 8] {
        let pools = POOLS_AND_SPAWN[..3].to_vec();
        rows.extend(measure::medians(&pools, workers, 0, runs)?);
    }
    let phases = measure::fork_pool_phases(budget::share(args.runs, 3))?;
    if let Some(path) = &args.svg {
        chart::draw(path, &rows)?;
    }
    let text = if args.json {
        json(&rows)
    } else {
        let figures = verdicts::Figures {
            rows: &rows,
            huge: &huge,
            phases: &phases,
            sizes: &sizes,
        };
        let mut text =
            figures.report(&heading(python.as_deref(), runs), python.is_some());
        if args.targets {
            text.push_str(&figures.targets());
        }
        text
    };
    // Everything is printed once everything is measured, in one write: a reader who pipes
    // it into `head` stops the output, not the program with a panic.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

/// Every method timed at every size, in this order: the forkserver pool first, whose
/// runs take least, so that it pays for no wake of a large fork before it.
const POOLS_AND_SPAWN: [Method; 5] = [
    Method::Pool(StartMethod::Forkserver),
    Method::Pool(StartMethod::Fork),
    Method::Pool(StartMethod::Spawn),
    Method::OwnServerPool,
    Method::RawPosixSpawn,
];

const CPYTHON: [Method; 3] = [
    Method::Python("fork"),
    Method::Python("spawn"),
    Method::Python("forkserver"),
];

/// What the figures are medians of, and whether the budget cut them short.
fn heading(python: Option<&str>, runs: Runs) -> String {
    let fewest = runs.fewest();
    let mut text = match python {
        Some(version) => format!(
            "medians of {fewest} runs or more (CPython {version}: {} runs)\n",
            runs.python
        ),
        None => format!(
            "no python3: no CPython figures; medians of {fewest} runs or more\n"
        ),
    };
    if budget::was_cut() {
        text.push_str(&format!(
            "the machine was slow: past half of the {} s budget, fewer runs each\n",
            budget::limit().as_secs()
        ));
    }
    text
}

/// `{"rows": [...]}`: every measurement of the tables, those of huge pages aside. The
/// method names are fixed words, so nothing needs escaping.
fn json(rows: &[Row]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                r#"{{"method": "{}", "parent_mib": {}, "workers": {}, "median_us": {}}}"#,
                r.method, r.parent_mib, r.workers, r.median_us
            )
        })
        .collect();
    format!("{{\"rows\": [{}]}}\n", rows.join(", "))
}
