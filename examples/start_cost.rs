//! What it costs to start workers, against the parent's size, the operating system's floor
//! and CPython's `ProcessPoolExecutor`.
//!
//! For each parent size (0, 32, 64, 128, 256 and 1024 MiB of written memory; `--max-mib 4096`
//! adds 4096), it takes the median time of: a pool with fork, with spawn and with forkserver
//! (start one worker, run one trivial task, shut down), the last both with the fork server
//! running and with a server of its own; a bare fork + `_exit` + wait, also
//! cut in two; a `posix_spawn` of `/bin/true` + wait; and CPython's pool with fork, spawn
//! and forkserver (at the smallest and largest sizes), timed by `python/start_cost.py`.
//! Then pools of 2, 4 and 8 workers at parent size 0. It prints what the figures mean in
//! words, which the book's check compares.
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
use std::time::{Duration, Instant};

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

/// What is timed, one row of the table per parent size or pool size.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Pool(StartMethod),
    /// A forkserver pool that starts its own server, and stops it when it is done: what a
    /// program's first forkserver pool pays, and the program's end.
    OwnServerPool,
    RawFork,
    RawPosixSpawn,
    Python(&'static str),
}

impl Method {
    const ALL: [Method; 9] = [
        Method::Pool(StartMethod::Fork),
        Method::Pool(StartMethod::Spawn),
        Method::Pool(StartMethod::Forkserver),
        Method::OwnServerPool,
        Method::RawFork,
        Method::RawPosixSpawn,
        Method::Python("fork"),
        Method::Python("spawn"),
        Method::Python("forkserver"),
    ];

    fn is_floor(self) -> bool {
        matches!(self, Method::RawFork | Method::RawPosixSpawn)
    }

    // ANCHOR: time_once
    /// Starts `workers` workers, runs one trivial task on each, and shuts them down (a
    /// floor starts and reaps one process); returns the microseconds that took.
    fn time_once(self, workers: usize, parent_mib: u32) -> Result<u64, String> {
        if self == Method::OwnServerPool {
            forkspawn::ForkServer::stop(); // so that this run starts one
        }
        let started = Instant::now();
        match self {
            Method::Pool(method) => one_run(method, workers)?,
            Method::OwnServerPool => {
                one_run(StartMethod::Forkserver, workers)?;
                forkspawn::ForkServer::stop();
            }
            Method::RawFork => floors::fork_and_wait().map_err(|e| e.to_string())?,
            Method::RawPosixSpawn => {
                floors::posix_spawn_and_wait(c"/bin/true").map_err(|e| e.to_string())?
            }
            Method::Python(method) => return python_pool(method, workers, parent_mib),
        }
        Ok(started.elapsed().as_micros() as u64)
    }
    // ANCHOR_END: time_once
}

fn one_run(method: StartMethod, workers: usize) -> Result<(), String> {
    let mut pool = Pool::new(method, workers).map_err(|e| e.to_string())?;
    pool.map(task!(nothing), 0..workers as u32)
        .map_err(|e| e.to_string())?;
    pool.shutdown().map_err(|e| e.to_string())
}

/// The project's Python script times its own pool, in a fresh interpreter each time.
///
/// CPython's spawn and forkserver start helpers (a resource tracker, the fork server) that
/// leave only after the script has exited. This process makes itself their reaper, so
/// that they come back to it as orphans, and waits for them: the benchmark leaves no
/// process behind.
fn python_pool(method: &str, workers: usize, parent_mib: u32) -> Result<u64, String> {
    prctl::set_child_subreaper(true).map_err(|e| e.to_string())?;
    // The reaping below waits for every child: this program's own fork server too.
    forkspawn::ForkServer::stop();
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
        Method::OwnServerPool => "forkserver-own",
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
    /// The largest parent size to measure, in MiB: sizes are 0, 32, 64, 128, 256, 1024, 4096
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=4096))]
    max_mib: u32,
    /// Runs per measurement of this library's pools and of the floors
    #[arg(long, default_value_t = 21, value_parser = clap::value_parser!(u32).range(1..=1001))]
    runs: u32,
    /// Milliseconds that the runs of a forkserver pool whose server is running fill, at
    /// least, at each size
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    min_ms: u32,
    /// Runs per measurement of CPython's pools, each in a fresh interpreter
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=101))]
    python_runs: u32,
    /// Seconds the whole benchmark should take at most: past half of them (a busy or slow
    /// machine), each measurement does fewer runs, and the output says so
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=3600))]
    budget_s: u32,
    /// Print one JSON object instead of the table
    #[arg(long)]
    json: bool,
    /// Also draw the start cost against the parent's size into this SVG file
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = forkspawn::instruments::cli::parse_args();
    budget::start(Duration::from_secs(args.budget_s.into()));
    forkspawn::instruments::cli::exit_code(run(&args))
}

/// The parent sizes measured, in MiB, up to `--max-mib`.
const SIZES: [u32; 7] = [0, 32, 64, 128, 256, 1024, 4096];

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let python = python_version();
    let methods: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| python.is_some() || !matches!(m, Method::Python(_)))
        .collect();
    let mut rows = Vec::new();
    let sizes: Vec<u32> = SIZES.into_iter().filter(|&s| s <= args.max_mib).collect();
    for &parent_mib in &sizes {
        let ballast = Ballast::new(parent_mib as usize)?;
        *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(ballast);
        // CPython at the smallest and largest sizes only: each of its runs starts an
        // interpreter and fills the parent's memory anew.
        let ends = [sizes[0], sizes[sizes.len() - 1]];
        let here: Vec<Method> = methods
            .iter()
            .copied()
            .filter(|m| !matches!(m, Method::Python(_)) || ends.contains(&parent_mib))
            .filter(|&m| m != Method::Pool(StartMethod::Forkserver))
            .collect();
        rows.extend(measure(&here, 1, parent_mib, args)?);
        rows.extend(split_fork(parent_mib, budget::share(args.runs, 3))?);
    }
    rows.extend(running_server(&sizes, args)?);
    let top = sizes[sizes.len() - 1];
    let huge = huge_pages(top, args)?;
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = None;
    for workers in [2, 4, 8] {
        // CPython with 8 workers only: every one of its runs is a new interpreter, and
        // the 2 and 4 took seconds that the book's check runs every time.
        let pools: Vec<Method> = methods
            .iter()
            .copied()
            .filter(|m| !m.is_floor() && *m != Method::OwnServerPool)
            .filter(|m| workers == 8 || !matches!(m, Method::Python(_)))
            .collect();
        rows.extend(measure(&pools, workers, 0, args)?);
    }
    let phases = fork_pool_phases(budget::share(args.runs, 3))?;
    if let Some(path) = &args.svg {
        chart::draw(path, &rows)?;
    }
    if args.json {
        println!("{}", json(&rows));
        return Ok(());
    }
    // Everything is printed once everything is measured: the lines' clocks then say
    // nothing about how long the measuring took, which varies from machine to machine.
    let figures = report::Figures {
        rows: &rows,
        huge: &huge,
        phases: &phases,
        sizes: &sizes,
    };
    figures.print(python.as_deref(), args);
    Ok(())
}

/// The version of `python3` on the `PATH`, if there is one.
fn python_version() -> Option<String> {
    let output = Command::new("python3")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().strip_prefix("Python ")?;
    output.status.success().then(|| version.to_owned())
}

/// The bare fork cycle at this size, cut in two (`floors::fork_and_wait_split`): the
/// medians of `fork()` alone and of the child's exit and the wait that follow it.
fn split_fork(parent_mib: u32, runs: u32) -> Result<[Row; 2], String> {
    let mut forks = Vec::new();
    let mut exits = Vec::new();
    for _ in 0..runs {
        floors::fork_and_wait_split().map_err(|e| e.to_string())?; // uncounted
        let cycle = floors::fork_and_wait_split().map_err(|e| e.to_string())?;
        forks.push(cycle.fork.as_micros() as u64);
        exits.push(cycle.exit_and_wait.as_micros() as u64);
    }
    let row = |method, timings: Vec<u64>| Row {
        method,
        parent_mib,
        workers: 1,
        median_us: median(timings),
    };
    Ok([
        row("raw-fork-call", forks),
        row("raw-fork-exit-wait", exits),
    ])
}

fn median(mut timings: Vec<u64>) -> u64 {
    timings.sort_unstable();
    timings.get(timings.len() / 2).copied().unwrap_or(0)
}

// ANCHOR: running
/// The forkserver pool whose server is running, at every size, in a pass of its own: after
/// the other methods, it would pay for the wake of a 1 GiB fork, which its short runs do
/// not dilute. A run takes about 300 µs, so 21 runs take 6 ms, and a brief stall of the
/// machine could cover them all. So the runs at each size fill `--min-ms` in all, spread
/// over four rounds of every size; the server is the one the first round starts.
fn running_server(
    sizes: &[u32],
    args: &Args,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    const ROUNDS: u32 = 4;
    let method = Method::Pool(StartMethod::Forkserver);
    let mut timings: Vec<Vec<u64>> = vec![Vec::new(); sizes.len()];
    for round in 0..ROUNDS {
        for (&parent_mib, timings) in sizes.iter().zip(&mut timings) {
            let ballast = Ballast::new(parent_mib as usize)?;
            *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(ballast);
            method.time_once(1, parent_mib)?;
            method.time_once(1, parent_mib)?;
            let runs = budget::share(args.runs, 3) * (round + 1) / ROUNDS;
            let fill = budget::share(args.min_ms, 0) / ROUNDS;
            let started = Instant::now();
            while timings.len() < runs as usize
                || started.elapsed() < Duration::from_millis(fill.into())
            {
                timings.push(method.time_once(1, parent_mib)?);
            }
        }
    }
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = None;
    Ok(sizes
        .iter()
        .zip(timings)
        .map(|(&parent_mib, timings)| Row {
            method: method_name(method),
            parent_mib,
            workers: 1,
            median_us: median(timings),
        })
        .collect())
}
// ANCHOR_END: running

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
    for ((slot, name), timings) in medians.iter_mut().zip(names).zip(timings) {
        *slot = (name, median(timings));
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

/// The median of several timings of each method, one method after another. Each method
/// first runs twice uncounted: that absorbs what the method before it left behind (after
/// a 1 GiB fork, caches and the kernel are busy with its page tables) and pages in what
/// this one needs. Interleaving the methods run by run was tried: every round then put a
/// 1 GiB fork's wake on the method after it, and the spawn pool looked as if it grew with
/// the parent. A CPython run starts a fresh interpreter, which dwarfs such effects.
fn measure(
    methods: &[Method],
    workers: usize,
    parent_mib: u32,
    args: &Args,
) -> Result<Vec<Row>, String> {
    let mut timings: Vec<Vec<u64>> = vec![Vec::new(); methods.len()];
    for (method, timings) in methods.iter().zip(&mut timings) {
        let runs = match method {
            Method::Python(_) => budget::share(args.python_runs, 1),
            _ => {
                method.time_once(workers, parent_mib)?;
                method.time_once(workers, parent_mib)?;
                budget::share(args.runs, 3)
            }
        };
        for _ in 0..runs {
            timings.push(method.time_once(workers, parent_mib)?);
        }
    }
    Ok(methods
        .iter()
        .zip(timings)
        .map(|(&method, timings)| Row {
            method: method_name(method),
            parent_mib,
            workers,
            median_us: median(timings),
        })
        .collect())
}

/// The time the benchmark may take. On an idle machine it takes well under half of it;
/// past half, each later measurement does fewer runs, in proportion to the time left.
mod budget {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    static LIMIT: OnceLock<(Instant, Duration)> = OnceLock::new();
    static CUT: AtomicBool = AtomicBool::new(false);

    pub fn start(limit: Duration) {
        let _ = LIMIT.set((Instant::now(), limit));
    }

    /// How many of the `wanted` runs (or milliseconds) to do now, `fewest` at least.
    pub fn share(wanted: u32, fewest: u32) -> u32 {
        let Some((started, limit)) = LIMIT.get() else {
            return wanted;
        };
        let used = started.elapsed().as_secs_f64() / limit.as_secs_f64();
        if used < 0.5 {
            return wanted;
        }
        let left = ((1.0 - used) / 0.5).clamp(0.0, 1.0);
        let runs = ((f64::from(wanted) * left).ceil() as u32)
            .clamp(fewest.min(wanted), wanted);
        if runs < wanted {
            CUT.store(true, Ordering::Relaxed);
        }
        runs
    }

    /// Whether any measurement did fewer runs than asked for.
    pub fn was_cut() -> bool {
        CUT.load(Ordering::Relaxed)
    }

    pub fn limit() -> Duration {
        LIMIT.get().map_or(Duration::ZERO, |(_, limit)| *limit)
    }
}

/// The tables, and what they mean in words: every conclusion the chapter draws is a line
/// here, derived from the figures with a margin, so that the book's check can compare it.
mod report {
    use super::{Args, Phases, Row, median};
    use forkspawn::say;

    /// Every measurement of one run, and the sizes it covered.
    pub struct Figures<'a> {
        pub rows: &'a [Row],
        pub huge: &'a [Row],
        pub phases: &'a Phases,
        pub sizes: &'a [u32],
    }

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

    fn ratio(a: u64, b: u64) -> f64 {
        a as f64 / b.max(1) as f64
    }

    fn met(ok: bool) -> &'static str {
        if ok { "met" } else { "missed" }
    }

    /// One table: a label column, then one right-aligned cell per method.
    fn table(
        first: &str,
        columns: &[(&str, &str)],
        lines: &[(String, Vec<Option<u64>>)],
    ) {
        let cell =
            |value: Option<u64>| value.map_or("-".to_owned(), |us| format!("{us} µs"));
        let titles: Vec<String> =
            columns.iter().map(|(_, t)| format!("{t:>10}")).collect();
        say!("{first:>8}{}", titles.join(""));
        for (label, values) in lines {
            let cells: Vec<String> =
                values.iter().map(|v| format!("{:>10}", cell(*v))).collect();
            say!("{label:>8}{}", cells.join(""));
        }
    }

    const OURS: [(&str, &str); 6] = [
        ("fork", "fork"),
        ("spawn", "spawn"),
        ("forkserver", "fsrv"),
        ("forkserver-own", "fsrv own"),
        ("raw-fork", "raw fork"),
        ("raw-posix-spawn", "raw spawn"),
    ];
    const CPYTHON: [(&str, &str); 3] = [
        ("python-fork", "CPy fork"),
        ("python-spawn", "CPy spawn"),
        ("python-forkserver", "CPy fsrv"),
    ];

    impl Figures<'_> {
        fn at(&self, method: &str, parent_mib: u32) -> Option<u64> {
            find(self.rows, method, parent_mib, 1)
        }

        /// The spawn pool's cost, which does not depend on the parent's size (its
        /// target above): the median of its medians at every size. A comparison with
        /// this level is not turned by one size's measurement that a stall inflated.
        fn spawn_level(&self) -> Option<u64> {
            let at_sizes: Vec<u64> = self
                .sizes
                .iter()
                .filter_map(|&s| self.at("spawn", s))
                .collect();
            (!at_sizes.is_empty()).then(|| median(at_sizes))
        }

        fn top(&self) -> u32 {
            self.sizes.last().copied().unwrap_or(0)
        }

        /// One line per size, one cell per method.
        fn by_size(
            &self,
            columns: &[(&str, &str)],
            sizes: &[u32],
        ) -> Vec<(String, Vec<Option<u64>>)> {
            sizes
                .iter()
                .map(|&mib| {
                    let values = columns.iter().map(|(m, _)| self.at(m, mib)).collect();
                    (format!("{mib} MiB"), values)
                })
                .collect()
        }

        pub fn print(&self, python: Option<&str>, args: &Args) {
            match python {
                Some(version) => say!(
                    "medians of {} runs (fsrv: runs filling {} ms; CPython {version}: {})",
                    args.runs,
                    args.min_ms,
                    args.python_runs
                ),
                None => say!(
                    "no python3: no CPython figures; medians of {} runs (fsrv: runs filling {} ms)",
                    args.runs,
                    args.min_ms
                ),
            }
            if super::budget::was_cut() {
                say!(
                    "the machine was slow: past half of the {} s budget, fewer runs each",
                    super::budget::limit().as_secs()
                );
            }
            say!("a run: start the workers, give each one task, shut the pool down");
            say!("pools of one worker, and the floors, against the parent's size:");
            table("", &OURS, &self.by_size(&OURS, self.sizes));
            if python.is_some() {
                say!(
                    "CPython's ProcessPoolExecutor, one worker, new interpreter per run:"
                );
                table(
                    "",
                    &CPYTHON,
                    &self.by_size(&CPYTHON, &[self.sizes[0], self.top()]),
                );
            }
            self.parent_size();
            self.why_fork_grows();
            self.huge_pages();
            if python.is_some() {
                self.against_cpython();
            }
            self.workers(python.is_some());
            self.floor();
        }

        /// How each pool's cost moves with the parent's size.
        fn parent_size(&self) {
            say!("cost per MiB of parent, below and above 256 MiB:");
            for (method, title) in [("fork", "fork pool"), ("raw-fork", "raw fork")] {
                say!("  {title:<10}{}", self.growth(method));
            }
            let (zero, top) = (self.sizes[0], self.top());
            say!("at {top} MiB / at {zero} MiB:");
            for (method, title) in [
                ("spawn", "spawn pool"),
                ("forkserver", "fsrv pool"),
                ("forkserver-own", "fsrv own"),
            ] {
                if let (Some(low), Some(high)) =
                    (self.at(method, zero), self.at(method, top))
                {
                    let r = ratio(high, low);
                    say!(
                        "  {title:<10} {r:.2}× (target: at most 1.2×): {}",
                        met(r <= 1.2)
                    );
                }
            }
            say!("the fork pool against the spawn pool:");
            say!("  {}", self.crossover());
            say!("forkserver pools against the fork pool, from 64 MiB up:");
            let (verdict, why) =
                self.against_fork("forkserver", ["met", "not met", "missed"]);
            say!("  fsrv pool cheaper (target): {verdict}");
            say!("    {why}");
            let (verdict, why) =
                self.against_fork("forkserver-own", ["yes", "not clearly", "no"]);
            say!("  fsrv own cheaper: {verdict}");
            say!("    {why}");
            say!(
                "  fsrv own against the spawn pool: {}",
                self.own_against_spawn()
            );
        }

        /// The fork line's slope below and above 256 MiB, and whether it is close to
        /// straight: the steeper at most twice the shallower.
        fn growth(&self, method: &str) -> String {
            let slope = |from: u32, to: u32| {
                let (a, b) = (self.at(method, from)?, self.at(method, to)?);
                Some((b as f64 - a as f64) / f64::from(to - from))
            };
            let (Some(below), Some(above)) =
                (slope(self.sizes[0], 256), slope(256, self.top()))
            else {
                return "too few sizes to tell".to_owned();
            };
            let (low, high) = (below.min(above), below.max(above));
            let shape = match () {
                _ if low <= 0.0 => "does not grow at every step",
                _ if high <= 2.0 * low => "close to a straight line",
                _ if below > above => "steeper for a small parent",
                _ => "steeper for a large parent",
            };
            format!("{below:>5.1} µs {above:>5.1} µs: {shape}")
        }

        /// Where the fork pool starts to cost more than the spawn pool: between the
        /// largest size at which it is cheaper and the smallest at which it is dearer,
        /// against the spawn pool's level.
        fn crossover(&self) -> String {
            let spawn = self.spawn_level();
            let dearer: Vec<(u32, bool)> = self
                .sizes
                .iter()
                .filter_map(|&s| Some((s, self.at("fork", s)? > spawn?)))
                .collect();
            let first_dearer = dearer.iter().position(|&(_, d)| d);
            let in_order =
                first_dearer.is_none_or(|i| dearer[i..].iter().all(|&(_, d)| d));
            match first_dearer {
                _ if !in_order => {
                    "cheaper at some sizes, dearer at others, in no order".to_owned()
                }
                None => "cheaper at every size".to_owned(),
                Some(0) => "dearer at every size".to_owned(),
                // Sizes as adjectives ("a 32-MiB parent") are settings, which the book's
                // check compares exactly, unlike measurements ("32 MiB").
                Some(i) => format!(
                    "cheaper for a {}-MiB parent, dearer for a {}-MiB one",
                    dearer[i - 1].0,
                    dearer[i].0
                ),
            }
        }

        /// A forkserver pool against the fork pool at every size from 64 MiB up, and
        /// the size that decides it: `words` for clearly cheaper, a tie, clearly dearer.
        /// Within 1.5× of each other the two are a tie: which is cheaper there changes
        /// from run to run, and the verdict must not.
        fn against_fork(
            &self,
            method: &str,
            [cheaper, tie, dearer]: [&'static str; 3],
        ) -> (&'static str, String) {
            let ratios: Vec<(u32, f64)> = self
                .sizes
                .iter()
                .filter(|&&s| s >= 64)
                .filter_map(|&s| {
                    Some((s, ratio(self.at(method, s)?, self.at("fork", s)?)))
                })
                .collect();
            let first =
                |wanted: fn(f64) -> bool| ratios.iter().find(|&&(_, r)| wanted(r));
            if let Some((size, r)) = first(|r| r >= 1.5) {
                (
                    dearer,
                    format!("dearer at {size} MiB: {r:.2}× the fork pool"),
                )
            } else if let Some((size, r)) = first(|r| r > 1.0 / 1.5) {
                let why =
                    format!("a tie at {size} MiB: {r:.2}× the fork pool (within 1.5×)");
                (tie, why)
            } else {
                (cheaper, "cheaper at every size".to_owned())
            }
        }

        /// Whether the pool that starts its own server costs more than the spawn pool,
        /// which starts a program too, at every size.
        fn own_against_spawn(&self) -> &'static str {
            let spawn = self.spawn_level();
            let dearer = self.sizes.iter().all(|&s| {
                match (self.at("forkserver-own", s), spawn) {
                    (Some(own), Some(spawn)) => own > spawn,
                    _ => true,
                }
            });
            if dearer {
                "dearer at every size"
            } else {
                "not dearer at every size"
            }
        }

        /// The bare fork cycle cut in two, at every size; and at the largest, how the
        /// child's exit and the wait compare with `fork()` itself.
        fn why_fork_grows(&self) {
            say!("a raw fork in two: fork() itself, then the child's exit and wait:");
            let columns = [
                ("raw-fork-call", "fork()"),
                ("raw-fork-exit-wait", "exit+wait"),
            ];
            table("", &columns, &self.by_size(&columns, self.sizes));
            let top = self.top();
            if let (Some(fork), Some(exit)) = (
                self.at("raw-fork-call", top),
                self.at("raw-fork-exit-wait", top),
            ) {
                let r = ratio(exit, fork);
                let words = match r {
                    r if r > 2.0 => "longer than fork()",
                    r if r >= 0.5 => "about as long (0.5× to 2×)",
                    _ => "much shorter than fork()",
                };
                say!("  exit+wait / fork() at {top} MiB: {r:.2}×: {words}");
            }
        }

        fn huge_pages(&self) {
            let Some(&Row { parent_mib, .. }) = self.huge.first() else {
                return;
            };
            let in_huge = find(self.huge, "huge-pages-mib", parent_mib, 0).unwrap_or(0);
            say!("at {parent_mib} MiB again, {in_huge} MiB of it in 2 MiB huge pages:");
            for (method, title) in [("fork", "fork pool"), ("raw-fork", "raw fork")] {
                let small = self.at(method, parent_mib);
                let large = find(self.huge, method, parent_mib, 1);
                if let (Some(small), Some(large)) = (small, large) {
                    let r = ratio(small, large);
                    let words = if r >= 3.0 {
                        "many times faster"
                    } else {
                        "not many times faster"
                    };
                    say!("  {title:<10}{large:>6} µs (4 KiB pages: {r:.1}×): {words}");
                }
            }
        }

        fn against_cpython(&self) {
            say!("CPython's pool / this library's, one worker at 0 MiB:");
            // Each CPython run is a new interpreter, whose forkserver pool starts a
            // server: it is compared with the pool that starts its own.
            for (ours, title, theirs, at_least) in [
                ("spawn", "spawn", "python-spawn", 20.0),
                ("fork", "fork", "python-fork", 10.0),
                ("forkserver-own", "fsrv own", "python-forkserver", 20.0),
            ] {
                if let (Some(mine), Some(python)) =
                    (self.at(ours, 0), self.at(theirs, 0))
                {
                    let r = ratio(python, mine);
                    let outcome = met(r >= at_least);
                    say!(
                        "  {title:<10} {r:>5.1}× (target: at least {at_least}×): {outcome}"
                    );
                }
            }
        }

        /// Pools of 1, 2, 4 and 8 workers at 0 MiB.
        fn workers(&self, python: bool) {
            let columns: Vec<(&str, &str)> =
                [("fork", "fork"), ("spawn", "spawn"), ("forkserver", "fsrv")]
                    .into_iter()
                    .chain(CPYTHON.into_iter().filter(|_| python))
                    .collect();
            say!("pools of 1 to 8 workers, at 0 MiB (CPython: 1 and 8):");
            let lines: Vec<_> = [1, 2, 4, 8]
                .into_iter()
                .map(|n| {
                    let values = columns
                        .iter()
                        .map(|(m, _)| find(self.rows, m, 0, n))
                        .collect();
                    (format!("{n}"), values)
                })
                .collect();
            // No verdict is drawn from this table. One was, on what each worker after the
            // first adds: it compared pools measured minutes apart, in different passes,
            // and on a machine whose speed drifted it turned from one run to the next.
            table("workers", &columns, &lines);
        }

        /// The fork pool against the bare fork at 0 MiB (a target), and its phases.
        fn floor(&self) {
            let phases = self.phases;
            if let (Some(pool), Some(raw)) =
                (self.at("fork", 0), self.at("raw-fork", 0))
            {
                let r = ratio(pool, raw);
                say!(
                    "fork pool / raw fork at 0 MiB: {r:.2}× (target: at most 2×): {}",
                    met(r <= 2.0)
                );
            }
            say!("a fork pool at 0 MiB, phase by phase:");
            for (name, us) in phases.medians {
                say!("  {name:<26} {:>8}", format!("{us} µs"));
            }
            let [_, _, first, second, _] = phases.medians.map(|(_, us)| us);
            let r = ratio(first, second);
            let words = if r >= 2.0 {
                "the first costs more"
            } else {
                "about the same"
            };
            say!("  first task / second: {r:.1}×: {words}");
            let [bare, pool] = phases.faults;
            let words = if pool >= 2 * bare.max(1) {
                "the worker more"
            } else {
                "about as many"
            };
            say!("  a bare child takes {bare} faults, a worker {pool} faults: {words}");
        }
    }
}

/// The chart of start cost against parent size, one line per method.
mod chart {
    use std::path::Path;

    use plotters::prelude::*;

    use super::Row;

    /// How a line is drawn: the pools solid, the floors dashed, CPython's dotted.
    #[derive(Clone, Copy)]
    enum Stroke {
        Solid,
        Dashed,
        Dotted,
    }

    /// Each line: its method, its name in the legend (the table's words), a colour from
    /// Okabe and Ito's palette, which readers with a colour-vision deficiency can tell
    /// apart, and its stroke.
    const LINES: [(&str, &str, RGBColor, Stroke); 9] = [
        (
            "fork",
            "fork pool",
            RGBColor(0xd5, 0x5e, 0x00),
            Stroke::Solid,
        ),
        (
            "spawn",
            "spawn pool",
            RGBColor(0x00, 0x72, 0xb2),
            Stroke::Solid,
        ),
        (
            "forkserver",
            "forkserver pool, server running",
            RGBColor(0xe6, 0x9f, 0x00),
            Stroke::Solid,
        ),
        (
            "forkserver-own",
            "forkserver pool, own server",
            RGBColor(0xcc, 0x79, 0xa7),
            Stroke::Solid,
        ),
        (
            "raw-fork",
            "raw fork (floor)",
            RGBColor(0x00, 0x00, 0x00),
            Stroke::Dashed,
        ),
        (
            "raw-posix-spawn",
            "raw spawn (floor)",
            RGBColor(0x88, 0x88, 0x88),
            Stroke::Dashed,
        ),
        (
            "python-fork",
            "CPython fork",
            RGBColor(0xd5, 0x5e, 0x00),
            Stroke::Dotted,
        ),
        (
            "python-spawn",
            "CPython spawn",
            RGBColor(0x00, 0x72, 0xb2),
            Stroke::Dotted,
        ),
        (
            "python-forkserver",
            "CPython forkserver",
            RGBColor(0xe6, 0x9f, 0x00),
            Stroke::Dotted,
        ),
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
        let root = SVGBackend::new(path, (760, 560)).into_drawing_area();
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
                // From 1 µs: the decades below the fastest line hold the legend.
                0f64..f64::from(max_mib),
                (1f64..highest as f64 * 2.0).log_scale(),
            )?;
        chart
            .configure_mesh()
            .x_desc("parent's written memory (MiB)")
            .y_desc("median time (µs, log scale)")
            .x_label_formatter(&|mib| format!("{mib:.0}"))
            .y_label_formatter(&|us| format!("{us:.0}"))
            .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
            .draw()?;
        for (method, label, colour, stroke) in LINES {
            let points: Vec<(f64, f64)> = single
                .iter()
                .filter(|r| r.method == method)
                .map(|r| (f64::from(r.parent_mib), r.median_us.max(1) as f64))
                .collect();
            if points.is_empty() {
                continue;
            }
            let style = colour.stroke_width(2);
            let (dash, gap) = match stroke {
                Stroke::Solid => (0, 0),
                Stroke::Dashed => (8, 5),
                Stroke::Dotted => (2, 4),
            };
            let drawn = if dash == 0 {
                chart.draw_series(LineSeries::new(points.clone(), style))?
            } else {
                chart.draw_series(DashedLineSeries::new(
                    points.clone(),
                    dash,
                    gap,
                    style,
                ))?
            };
            // The legend's sample: three pieces, joined for a solid line.
            let pieces: [(i32, i32); 3] = match stroke {
                Stroke::Solid => [(0, 8), (8, 16), (16, 24)],
                Stroke::Dashed => [(0, 6), (9, 15), (18, 24)],
                Stroke::Dotted => [(0, 2), (6, 8), (12, 14)],
            };
            drawn.label(label).legend(move |(x, y)| {
                let piece = |(from, to): (i32, i32)| {
                    PathElement::new([(from, 0), (to, 0)], style)
                };
                EmptyElement::at((x, y))
                    + piece(pieces[0])
                    + piece(pieces[1])
                    + piece(pieces[2])
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
