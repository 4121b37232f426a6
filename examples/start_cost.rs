//! What it costs to start workers, against the parent's size, the operating system's floor
//! and CPython's `ProcessPoolExecutor`.
//!
//! For each parent size (0, 64, 256 and 1024 MiB of written memory; `--max-mib 4096` adds
//! 4096), it takes the median time of: a pool with fork and a pool with spawn (start one
//! worker, run one trivial task, shut down); a bare fork + `_exit` + wait; a `posix_spawn`
//! of `/bin/true` + wait; and CPython's pool with fork, spawn and forkserver (at the
//! smallest and largest sizes), timed by `python/start_cost.py`. Then pools of 1, 2, 4 and
//! 8 workers at parent size 0.
//!
//! ```text
//! cargo run --release -q --example start_cost
//! cargo run --release -q --example start_cost -- --json
//! cargo run --release -q --example start_cost -- --svg src/start-cost.svg
//! ```
//!
//! Chapter: "Performance" (src/start-cost.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate nix;
extern crate plotters;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use clap::Parser;
use forkspawn::instruments::ballast::Ballast;
use forkspawn::instruments::floors;
use forkspawn::{Pool, StartMethod, task};
use nix::sys::prctl;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::wait::waitpid;

/// The parent's data: written before each round of measurements.
static BALLAST: Mutex<Option<Ballast>> = Mutex::new(None);

/// The trivial task: the measurement is of everything around it.
fn nothing(value: u32) -> u32 {
    value
}

// ANCHOR: methods
/// What is timed, one row of the table per parent size or pool size.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Pool(StartMethod),
    RawFork,
    RawPosixSpawn,
    Python(&'static str),
}

impl Method {
    const ALL: [Method; 8] = [
        Method::Pool(StartMethod::Fork),
        Method::Pool(StartMethod::Spawn),
        Method::Pool(StartMethod::Forkserver),
        Method::RawFork,
        Method::RawPosixSpawn,
        Method::Python("fork"),
        Method::Python("spawn"),
        Method::Python("forkserver"),
    ];

    fn is_floor(self) -> bool {
        matches!(self, Method::RawFork | Method::RawPosixSpawn)
    }

    /// Starts `workers` workers, runs one trivial task on each, and shuts them down (a
    /// floor starts and reaps one process); returns the microseconds that took.
    fn time_once(self, workers: usize, parent_mib: u32) -> Result<u64, String> {
        let started = Instant::now();
        match self {
            Method::Pool(method) => {
                let mut pool = Pool::new(method, workers).map_err(|e| e.to_string())?;
                let inputs = 0..workers as u32;
                pool.map(task!(nothing), inputs)
                    .map_err(|e| e.to_string())?;
                pool.shutdown().map_err(|e| e.to_string())?;
            }
            Method::RawFork => floors::fork_and_wait().map_err(|e| e.to_string())?,
            Method::RawPosixSpawn => {
                floors::posix_spawn_and_wait(c"/bin/true").map_err(|e| e.to_string())?
            }
            Method::Python(method) => return python_pool(method, workers, parent_mib),
        }
        Ok(started.elapsed().as_micros() as u64)
    }
}
// ANCHOR_END: methods

/// The project's Python script times its own pool, in a fresh interpreter each time.
///
/// CPython's spawn and forkserver start helpers (a resource tracker, the fork server) that
/// leave only after the script has exited. This process makes itself their reaper, so
/// that they come back to it as orphans, and waits for them: the benchmark leaves no
/// process behind.
fn python_pool(method: &str, workers: usize, parent_mib: u32) -> Result<u64, String> {
    prctl::set_child_subreaper(true).map_err(|e| e.to_string())?;
    let script = Path::new(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
        .join("python")
        .join("start_cost.py");
    let output = Command::new("python3")
        .arg(&script)
        .args([method, &workers.to_string(), &parent_mib.to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    while waitpid(None, None).is_ok() {} // the helpers, until none is left
    if !output.status.success() {
        return Err(format!("{} failed: {}", script.display(), output.status));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .map_err(|_| format!("unexpected output {text:?}"))
}

fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// One measurement: the median of several runs.
#[derive(Clone, Copy, Debug)]
struct Row {
    method: &'static str,
    parent_mib: u32,
    workers: usize,
    median_us: u64,
}

impl Row {
    /// One JSON object. The method names are fixed words, so nothing needs escaping.
    fn json(&self) -> String {
        format!(
            r#"{{"method": "{}", "parent_mib": {}, "workers": {}, "median_us": {}}}"#,
            self.method, self.parent_mib, self.workers, self.median_us
        )
    }
}

/// `{"rows": [...]}`: every measurement of the table, those of huge pages aside.
fn json(rows: &[Row]) -> String {
    let rows: Vec<String> = rows.iter().map(Row::json).collect();
    format!(r#"{{"rows": [{}]}}"#, rows.join(", "))
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Pool(StartMethod::Fork) => "fork",
        Method::Pool(StartMethod::Spawn) => "spawn",
        Method::Pool(StartMethod::Forkserver) => "forkserver",
        Method::RawFork => "raw-fork",
        Method::RawPosixSpawn => "raw-posix-spawn",
        Method::Python(method) => match method {
            "fork" => "python-fork",
            "spawn" => "python-spawn",
            _ => "python-forkserver",
        },
    }
}

/// Starting workers, against the parent's size, the OS's floor and CPython.
#[derive(Parser)]
#[command(name = "start_cost")]
struct Args {
    /// The largest parent size to measure, in MiB: sizes are 0, 64, 256, 1024 and 4096
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=4096))]
    max_mib: u32,
    /// Runs per measurement of this library's pools and of the floors
    #[arg(long, default_value_t = 11, value_parser = clap::value_parser!(u32).range(1..=1001))]
    runs: u32,
    /// Runs per measurement of CPython's pools, each in a fresh interpreter
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=101))]
    python_runs: u32,
    /// Print one JSON object instead of the table
    #[arg(long)]
    json: bool,
    /// Also draw the start cost against the parent's size into this SVG file
    #[arg(long)]
    svg: Option<PathBuf>,
}

// ANCHOR: main
fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = forkspawn::instruments::cli::parse_args();
    forkspawn::instruments::cli::exit_code(run(&args))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let python = python_available();
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| python || !matches!(m, Method::Python(_)))
        .collect();
    let mut rows = Vec::new();
    let sizes: Vec<u32> = [0, 64, 256, 1024, 4096]
        .into_iter()
        .filter(|&s| s <= args.max_mib)
        .collect();
    for &parent_mib in &sizes {
        let ballast = Ballast::new(parent_mib as usize)?;
        *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(ballast);
        // CPython at the smallest and largest sizes only: each of its runs starts an
        // interpreter and fills the parent's memory anew, and its lines are straight.
        let ends = [sizes[0], sizes[sizes.len() - 1]];
        let here: Vec<Method> = methods
            .iter()
            .copied()
            .filter(|m| !matches!(m, Method::Python(_)) || ends.contains(&parent_mib))
            .collect();
        rows.extend(measure(&here, 1, parent_mib, args)?);
    }
    rows.extend(held_forkserver(&sizes, args)?);
    let top = rows.iter().map(|r| r.parent_mib).max().unwrap_or(0);
    let huge = huge_pages(top, args)?;
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = None;
    for workers in [2, 4, 8] {
        let pools: Vec<Method> =
            methods.iter().copied().filter(|m| !m.is_floor()).collect();
        rows.extend(measure(&pools, workers, 0, args)?);
    }
    let phases = fork_pool_phases(args.runs)?;
    if let Some(path) = &args.svg {
        chart::draw(path, &rows)?;
    }
    if args.json {
        println!("{}", json(&rows));
        return Ok(());
    }
    // Everything is printed once everything is measured: the lines' clocks then say
    // nothing about how long the measuring took, which varies from machine to machine.
    report::print(&rows, python, args);
    report::held_forkserver(&rows);
    report::huge_pages(&rows, &huge);
    report::phases(&phases);
    Ok(())
}

// ANCHOR: held
/// The forkserver pool again at every size, with the fork server held by the program
/// (`ForkServer::start`) from the smallest size on: each pool then only asks the running
/// server for a fork, as every pool after the first does in CPython.
fn held_forkserver(
    sizes: &[u32],
    args: &Args,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let mut rows = Vec::new();
    let mut server = None;
    for &parent_mib in sizes {
        let ballast = Ballast::new(parent_mib as usize)?;
        *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(ballast);
        if server.is_none() {
            server = Some(forkspawn::ForkServer::start()?);
        }
        let pool = [Method::Pool(StartMethod::Forkserver)];
        for mut row in measure(&pool, 1, parent_mib, args)? {
            row.method = "forkserver-held";
            rows.push(row);
        }
    }
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = None;
    Ok(rows)
}
// ANCHOR_END: held

// ANCHOR: huge
/// The fork pool and the bare fork again at the largest size, with the parent's data in
/// transparent huge pages: the table the kernel copies at a fork has one entry per 2 MiB
/// instead of one per 4 KiB.
fn huge_pages(
    parent_mib: u32,
    args: &Args,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    if parent_mib == 0 {
        return Ok(Vec::new()); // nothing to put in huge pages
    }
    let ballast = Ballast::with_huge_pages(parent_mib as usize)?;
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(ballast);
    let huge = forkspawn::instruments::inspect::memory_usage(std::process::id())?.huge;
    let methods = [Method::Pool(StartMethod::Fork), Method::RawFork];
    let mut rows = measure(&methods, 1, parent_mib, args)?;
    rows.push(Row {
        method: "huge-pages-mib",
        parent_mib,
        workers: 0,
        median_us: huge.0 >> 20,
    });
    Ok(rows)
}
// ANCHOR_END: huge

// ANCHOR: phases
/// Where a fork pool's time goes, at parent size 0: the medians of each phase of a cycle,
/// with a second task added, and of the bare fork, all interleaved; and the page faults
/// each kind of child took, from `getrusage(RUSAGE_CHILDREN)`.
fn fork_pool_phases(runs: u32) -> Result<Phases, String> {
    let mut timings: [Vec<u64>; 5] = Default::default();
    let (mut bare_faults, mut pool_faults) = (0, 0);
    let error = |e: forkspawn::PoolError| e.to_string();
    for _ in 0..runs {
        let before = children_faults();
        let mut clock = Instant::now();
        let mut lap = |phase: usize, clock: &mut Instant| {
            timings[phase].push(clock.elapsed().as_micros() as u64);
            *clock = Instant::now();
        };
        floors::fork_and_wait().map_err(|e| e.to_string())?;
        lap(0, &mut clock);
        let between = children_faults();
        let mut pool = Pool::new(StartMethod::Fork, 1).map_err(error)?;
        lap(1, &mut clock);
        pool.map(task!(nothing), [1]).map_err(error)?;
        lap(2, &mut clock);
        pool.map(task!(nothing), [2]).map_err(error)?;
        lap(3, &mut clock);
        pool.shutdown().map_err(error)?;
        lap(4, &mut clock);
        bare_faults += between - before;
        pool_faults += children_faults() - between;
    }
    let names = [
        "bare fork + _exit + wait",
        "Pool::new (the fork)",
        "first task",
        "second task",
        "shutdown",
    ];
    let mut medians = [("", 0); 5];
    for ((median, name), mut timings) in medians.iter_mut().zip(names).zip(timings) {
        timings.sort_unstable();
        *median = (name, timings[timings.len() / 2]);
    }
    let runs = i64::from(runs.max(1));
    Ok(Phases {
        medians,
        faults: [bare_faults / runs, pool_faults / runs],
    })
}

/// Minor page faults taken by this process's reaped children, all together.
fn children_faults() -> i64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |usage| usage.minor_page_faults())
}

struct Phases {
    medians: [(&'static str, u64); 5],
    /// Page faults per child: the bare fork's, a pool worker's.
    faults: [i64; 2],
}
// ANCHOR_END: phases

/// The median of several timings of each method. The runs are interleaved — each method
/// once per round — so that a machine that is busier for a while weighs on every method
/// alike, and ratios between them stay fair. In each round every method first runs once
/// uncounted: it absorbs what the method before it left behind (caches and TLB full of
/// a 1 GiB fork's page tables make the next spawn a third slower), and pages in what this
/// one needs. A CPython run starts a fresh interpreter, which dwarfs such effects.
fn measure(
    methods: &[Method],
    workers: usize,
    parent_mib: u32,
    args: &Args,
) -> Result<Vec<Row>, String> {
    let mut timings: Vec<Vec<u64>> = vec![Vec::new(); methods.len()];
    for round in 0..args.runs.max(args.python_runs) {
        for (method, timings) in methods.iter().zip(&mut timings) {
            let is_python = matches!(method, Method::Python(_));
            let runs = if is_python {
                args.python_runs
            } else {
                args.runs
            };
            if round >= runs {
                continue;
            }
            if !is_python {
                method.time_once(workers, parent_mib)?;
            }
            timings.push(method.time_once(workers, parent_mib)?);
        }
    }
    Ok(methods
        .iter()
        .zip(timings)
        .map(|(&method, mut timings)| {
            timings.sort_unstable();
            Row {
                method: method_name(method),
                parent_mib,
                workers,
                median_us: timings[timings.len() / 2],
            }
        })
        .collect())
}
// ANCHOR_END: main

/// The table, the ratios and the targets, as the chapter shows them.
mod report {
    use super::{Args, Phases, Row};
    use forkspawn::say;

    fn find(
        rows: &[Row],
        method: &str,
        parent_mib: u32,
        workers: usize,
    ) -> Option<u64> {
        rows.iter()
            .find(|r| {
                r.method == method && r.parent_mib == parent_mib && r.workers == workers
            })
            .map(|r| r.median_us)
    }

    fn cell(value: Option<u64>) -> String {
        value.map_or("-".to_owned(), |us| format!("{us} µs"))
    }

    const COLUMNS: [(&str, &str); 8] = [
        ("fork", "fork pool"),
        ("spawn", "spawn pool"),
        ("forkserver", "fsrv pool"),
        ("raw-fork", "raw fork"),
        ("raw-posix-spawn", "posix_spawn"),
        ("python-fork", "CPy fork"),
        ("python-spawn", "CPy spawn"),
        ("python-forkserver", "CPy fsrv"),
    ];

    pub fn print(rows: &[Row], python: bool, args: &Args) {
        say!(
            "median of {} runs (CPython: {}, at the smallest and largest sizes), each: \
             start the workers, one task each, shut down",
            args.runs,
            args.python_runs
        );
        if !python {
            say!("python3 not found: the CPython columns are empty");
        }
        let header: Vec<String> = COLUMNS
            .iter()
            .map(|(_, title)| format!("{title:>12}"))
            .collect();
        say!("{:>6} {:>7} {}", "MiB", "workers", header.join(""));
        let mut shapes: Vec<(u32, usize)> = rows
            .iter()
            .filter(|r| COLUMNS.iter().any(|(method, _)| *method == r.method))
            .map(|r| (r.parent_mib, r.workers))
            .collect();
        shapes.dedup();
        for (parent_mib, workers) in shapes {
            let cells: Vec<String> = COLUMNS
                .iter()
                .map(|(method, _)| {
                    format!("{:>12}", cell(find(rows, method, parent_mib, workers)))
                })
                .collect();
            say!("{parent_mib:>6} {workers:>7} {}", cells.join(""));
        }
        ratios(rows, args.max_mib);
    }

    pub fn held_forkserver(rows: &[Row]) {
        let held: Vec<String> = rows
            .iter()
            .filter(|r| r.method == "forkserver-held")
            .map(|r| format!("{} MiB: {} µs", r.parent_mib, r.median_us))
            .collect();
        say!("forkserver pool, 1 worker, server held by the program:");
        say!("  {}", held.join(", "));
    }

    pub fn huge_pages(rows: &[Row], huge: &[Row]) {
        let Some(&Row { parent_mib, .. }) = huge.first() else {
            return;
        };
        let in_huge = find(huge, "huge-pages-mib", parent_mib, 0).unwrap_or(0);
        say!(
            "the same at {parent_mib} MiB with {in_huge} MiB of it in 2 MiB huge pages:"
        );
        for (method, title) in [("fork", "fork pool"), ("raw-fork", "raw fork")] {
            let (small, large) = (
                find(rows, method, parent_mib, 1),
                find(huge, method, parent_mib, 1),
            );
            let ratio = match (small, large) {
                (Some(s), Some(l)) if l > 0 => format!("{:.1}×", s as f64 / l as f64),
                _ => "-".to_owned(),
            };
            say!(
                "  {title:<10} {:>10} (4 KiB pages: {}, {ratio} as long)",
                cell(large),
                cell(small)
            );
        }
    }

    pub fn phases(phases: &Phases) {
        say!("fork pool at 0 MiB, phase by phase (median):");
        for (name, us) in phases.medians {
            say!("  {name:<26} {:>8}", format!("{us} µs"));
        }
        let [bare, pool] = phases.faults;
        say!(
            "page faults per child: {bare} faults in a bare fork's, {pool} faults in a worker's"
        );
    }

    // ANCHOR: ratios
    fn ratios(rows: &[Row], max_mib: u32) {
        let at = |method, mib| find(rows, method, mib, 1);
        let ratio = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => format!("{:.2}×", a as f64 / b as f64),
            _ => "-".to_owned(),
        };
        say!("targets, 1 worker, from this run:");
        say!(
            "  CPython spawn / spawn pool at 0 MiB: {} (target: at least 20×)",
            ratio(at("python-spawn", 0), at("spawn", 0))
        );
        say!(
            "  CPython fork / fork pool at 0 MiB: {} (target: at least 10×)",
            ratio(at("python-fork", 0), at("fork", 0))
        );
        say!(
            "  fork pool / raw fork at 0 MiB: {} (target: at most 2×)",
            ratio(at("fork", 0), at("raw-fork", 0))
        );
        say!(
            "  CPython forkserver / forkserver pool at 0 MiB: {} (target: at least 20×)",
            ratio(at("python-forkserver", 0), at("forkserver", 0))
        );
        let top = [4096, 1024, 256, 64]
            .into_iter()
            .find(|&s| s <= max_mib)
            .unwrap_or(0);
        say!(
            "  spawn pool at {top} MiB / at 0 MiB: {} (target: at most 1.2×)",
            ratio(at("spawn", top), at("spawn", 0))
        );
        say!(
            "  forkserver pool at {top} MiB / at 0 MiB: {} (target: at most 1.2×)",
            ratio(at("forkserver", top), at("forkserver", 0))
        );
        say!(
            "  {}",
            forkserver_against_fork(rows, "forkserver-held", "server held")
        );
        say!(
            "  forkserver pool (server held) / fork pool at 64 MiB: {}",
            ratio(at("forkserver-held", 64), at("fork", 64))
        );
        if let (Some(fork_top), Some(fork_0)) = (at("fork", top), at("fork", 0))
            && top > 0
        {
            let per_mib = (fork_top.saturating_sub(fork_0)) as f64 / f64::from(top);
            say!("fork pool: grows by {per_mib:.1} µs per MiB of parent");
        }
        say!("{}", crossover(rows));
    }

    /// Whether a forkserver pool (`method`) is cheaper than the fork pool at every
    /// measured size from 256 MiB up, in words. At 64 MiB only the ratio is printed: on a
    /// busy machine, the round trips between the pool and its server slow down more than
    /// a fork does, and which of the two is cheaper there changes from run to run. A pool
    /// that starts its own server costs about a spawn and a fork, close to the fork pool
    /// even at 256 MiB: it gets no verdict either.
    fn forkserver_against_fork(rows: &[Row], method: &str, how: &str) -> String {
        let dearer: Vec<String> = [256, 1024, 4096]
            .into_iter()
            .filter_map(|mib| {
                let forkserver = find(rows, method, mib, 1)?;
                let fork = find(rows, "fork", mib, 1)?;
                Some((mib, forkserver >= fork))
            })
            .filter(|&(_, dearer)| dearer)
            .map(|(mib, _)| format!("{mib} MiB"))
            .collect();
        match dearer.as_slice() {
            [] => {
                format!("forkserver pool ({how}) cheaper than fork from 256 MiB: met")
            }
            sizes => format!(
                "forkserver pool ({how}) not cheaper than fork at {}: missed",
                sizes.join(", ")
            ),
        }
    }

    /// Where the fork pool starts to cost more than the spawn pool, by linear interpolation
    /// between the measured sizes.
    fn crossover(rows: &[Row]) -> String {
        let difference = |mib| {
            let fork = find(rows, "fork", mib, 1)? as f64;
            let spawn = find(rows, "spawn", mib, 1)? as f64;
            Some((mib, fork - spawn))
        };
        let points: Vec<(u32, f64)> = [0, 64, 256, 1024, 4096]
            .into_iter()
            .filter_map(difference)
            .collect();
        match points.first() {
            None => "no measurement to compare".to_owned(),
            Some(&(_, first)) if first >= 0.0 => {
                "the spawn pool is cheaper than the fork pool at every size".to_owned()
            }
            Some(_) => match points.windows(2).find(|w| w[1].1 >= 0.0) {
                Some(w) => {
                    let ((a, da), (b, db)) = (w[0], w[1]);
                    let mib = f64::from(a) + (f64::from(b - a)) * (-da / (db - da));
                    format!(
                        "crossover: above about {mib:.0} MiB the fork pool costs more than the spawn pool"
                    )
                }
                None => "the fork pool is cheaper than the spawn pool at every size"
                    .to_owned(),
            },
        }
    }
    // ANCHOR_END: ratios
}

/// The chart of start cost against parent size, one line per method.
mod chart {
    use std::path::Path;

    use plotters::prelude::*;

    use super::Row;

    const LINES: [(&str, RGBColor); 9] = [
        ("fork", RGBColor(0xd6, 0x27, 0x28)),
        ("spawn", RGBColor(0x1f, 0x77, 0xb4)),
        ("forkserver", RGBColor(0xff, 0x7f, 0x0e)),
        ("forkserver-held", RGBColor(0xff, 0xbb, 0x78)),
        ("raw-fork", RGBColor(0xff, 0x98, 0x96)),
        ("raw-posix-spawn", RGBColor(0xae, 0xc7, 0xe8)),
        ("python-fork", RGBColor(0x8c, 0x56, 0x4b)),
        ("python-spawn", RGBColor(0x94, 0x67, 0xbd)),
        ("python-forkserver", RGBColor(0x2c, 0xa0, 0x2c)),
    ];

    pub fn draw(path: &Path, rows: &[Row]) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let single: Vec<&Row> = rows.iter().filter(|r| r.workers == 1).collect();
        let max_mib = single
            .iter()
            .map(|r| r.parent_mib)
            .max()
            .unwrap_or(0)
            .max(64);
        let highest = single
            .iter()
            .map(|r| r.median_us)
            .max()
            .unwrap_or(1)
            .max(10);
        let root = SVGBackend::new(path, (760, 480)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Starting one worker, against the parent's size",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(
                0f64..f64::from(max_mib),
                (10f64..highest as f64 * 2.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("parent's written memory (MiB)")
            .y_desc("median time (µs, log scale)")
            .x_label_formatter(&|mib| format!("{mib:.0}"))
            .y_label_formatter(&|us| format!("{us:.0}"))
            .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
            .draw()?;
        for (method, colour) in LINES {
            let points: Vec<(f64, f64)> = single
                .iter()
                .filter(|r| r.method == method)
                .map(|r| (f64::from(r.parent_mib), r.median_us.max(1) as f64))
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
                .label(method)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, colour.filled())),
            )?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    }
}
