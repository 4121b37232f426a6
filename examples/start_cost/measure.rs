//! The measuring: one run of each method, and the medians of many runs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use forkspawn::{Pool, StartMethod, task};
use instruments::ballast::Ballast;
use instruments::floors;
use nix::sys::prctl;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::wait::waitpid;

use crate::budget;

/// The parent's data: written before the measurements at each size.
static BALLAST: Mutex<Option<Ballast>> = Mutex::new(None);

/// Makes the parent hold `ballast` (or nothing) from now on.
pub fn hold(ballast: Option<Ballast>) {
    *BALLAST.lock().unwrap_or_else(PoisonError::into_inner) = ballast;
}

/// The trivial task: the measurement is of everything around it.
fn nothing(value: u32) -> u32 {
    value
}

/// What is timed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Method {
    Pool(StartMethod),
    /// A forkserver pool that starts its own server, and stops it when it is done: what a
    /// program's first forkserver pool pays, and the program's end.
    OwnServerPool,
    RawPosixSpawn,
    Python(&'static str),
}

impl Method {
    /// The method's name in the rows (and the JSON).
    pub fn name(self) -> &'static str {
        match self {
            Method::Pool(StartMethod::Fork) => "fork",
            Method::Pool(StartMethod::Spawn) => "spawn",
            Method::Pool(StartMethod::Forkserver) => "forkserver",
            Method::OwnServerPool => "forkserver-own",
            Method::RawPosixSpawn => "raw-posix-spawn",
            Method::Python("fork") => "python-fork",
            Method::Python("spawn") => "python-spawn",
            Method::Python(_) => "python-forkserver",
        }
    }

    // ANCHOR: time_once
    /// Starts `workers` workers, runs one trivial task on each, and shuts them down (the
    /// floor starts and reaps one process); returns the microseconds that took.
    fn time_once(self, workers: usize) -> Result<u64, String> {
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
            Method::RawPosixSpawn => {
                floors::posix_spawn_and_wait(c"/bin/true").map_err(|e| e.to_string())?
            }
            Method::Python(method) => return python_pool(method, workers),
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

/// The project's Python script times its own pool, in a fresh interpreter each time, with
/// a parent that holds nothing of note.
///
/// CPython's spawn and forkserver start helpers (a resource tracker, the fork server) that
/// leave only after the script has exited. This process makes itself their reaper, so
/// that they come back to it as orphans, and waits for them: the benchmark leaves no
/// process behind.
fn python_pool(method: &str, workers: usize) -> Result<u64, String> {
    prctl::set_child_subreaper(true).map_err(|e| e.to_string())?;
    // The reaping below waits for every child: this program's own fork server too.
    forkspawn::ForkServer::stop();
    let script = Path::new(option_env!("CARGO_MANIFEST_DIR").unwrap_or("."))
        .join("python")
        .join("start_cost.py");
    let output = Command::new("python3")
        .arg(&script)
        .args([method, &workers.to_string(), "0"])
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

/// The version of `python3` on the `PATH`, if there is one.
pub fn python_version() -> Option<String> {
    let output = Command::new("python3")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.trim().strip_prefix("Python ")?;
    output.status.success().then(|| version.to_owned())
}

/// One measurement: the median of several runs.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub method: &'static str,
    pub parent_mib: u32,
    pub workers: usize,
    pub median_us: u64,
}

impl Row {
    fn new(
        method: &'static str,
        parent_mib: u32,
        workers: usize,
        timings: Vec<u64>,
    ) -> Row {
        Row {
            method,
            parent_mib,
            workers,
            median_us: median(timings),
        }
    }
}

pub fn median(mut timings: Vec<u64>) -> u64 {
    timings.sort_unstable();
    timings.get(timings.len() / 2).copied().unwrap_or(0)
}

/// How many runs make a median, and how long the runs of a short measurement fill.
#[derive(Clone, Copy)]
pub struct Runs {
    pub pools: u32,
    pub python: u32,
    pub min_ms: u32,
}

impl Runs {
    /// Whether `done` runs that took `took` make a median: `count` of them, or half as many
    /// and one where they took half a second already (a large parent's fork, whose figure
    /// is large beside the noise), and `fill` of time at least.
    fn enough(self, done: usize, took: Duration, count: u32, fill: Duration) -> bool {
        let count = count as usize;
        let slow = took >= Duration::from_millis(500) && done > count / 2;
        (done >= count || slow) && took >= fill
    }

    /// The fewest runs any median of this library's is made of.
    pub fn fewest(self) -> u32 {
        self.pools / 2 + 1
    }
}

/// The medians of `methods`, one after another, at the parent size the process holds.
/// Each method first runs twice uncounted: that absorbs what the method before it left
/// behind (after a 1 GiB fork, caches and the kernel are busy with its page tables) and
/// pages in what this one needs. Its counted runs fill `--min-ms` at least, so that a
/// method whose run takes a few hundred microseconds is not measured within one brief
/// stall of the machine. A CPython run starts a fresh interpreter, which dwarfs all that.
pub fn medians(
    methods: &[Method],
    workers: usize,
    parent_mib: u32,
    runs: Runs,
) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for &method in methods {
        let mut timings = Vec::new();
        if let Method::Python(_) = method {
            for _ in 0..budget::share(runs.python, 1) {
                timings.push(method.time_once(workers)?);
            }
        } else {
            method.time_once(workers)?;
            method.time_once(workers)?;
            let (count, fill) =
                (budget::share(runs.pools, 3), budget::share(runs.min_ms, 0));
            let fill = Duration::from_millis(fill.into());
            let started = Instant::now();
            while !runs.enough(timings.len(), started.elapsed(), count, fill) {
                timings.push(method.time_once(workers)?);
            }
        }
        rows.push(Row::new(method.name(), parent_mib, workers, timings));
    }
    Ok(rows)
}

/// The bare fork cycle at the parent size the process holds (`raw-fork`), and its two
/// halves: `fork()` alone, and the child's exit with the wait that follows.
pub fn raw_fork(parent_mib: u32, runs: Runs) -> Result<[Row; 3], String> {
    let (mut whole, mut forks, mut exits) = (Vec::new(), Vec::new(), Vec::new());
    floors::fork_and_wait_split().map_err(|e| e.to_string())?; // uncounted
    floors::fork_and_wait_split().map_err(|e| e.to_string())?;
    for _ in 0..budget::share(runs.pools, 3) {
        let cycle = floors::fork_and_wait_split().map_err(|e| e.to_string())?;
        forks.push(cycle.fork.as_micros() as u64);
        exits.push(cycle.exit_and_wait.as_micros() as u64);
        whole.push((cycle.fork + cycle.exit_and_wait).as_micros() as u64);
    }
    Ok([
        Row::new("raw-fork", parent_mib, 1, whole),
        Row::new("raw-fork-call", parent_mib, 1, forks),
        Row::new("raw-fork-exit-wait", parent_mib, 1, exits),
    ])
}

/// The fork pool and the bare fork at `parent_mib`, with the parent's data in transparent
/// huge pages: the table the kernel copies at a fork has one entry per 2 MiB instead of one
/// per 4 KiB. The last row holds how many MiB the kernel really put in huge pages.
pub fn huge_pages(
    parent_mib: u32,
    runs: Runs,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    if parent_mib == 0 {
        return Ok(Vec::new()); // nothing to put in huge pages
    }
    hold(Some(Ballast::with_huge_pages(parent_mib as usize)?));
    let huge = instruments::inspect::memory_usage(std::process::id())?.huge;
    let mut rows = medians(&[Method::Pool(StartMethod::Fork)], 1, parent_mib, runs)?;
    rows.push(raw_fork(parent_mib, runs)?[0]);
    rows.push(Row {
        method: "huge-pages-mib",
        parent_mib,
        workers: 0,
        median_us: huge.0 >> 20,
    });
    hold(None);
    Ok(rows)
}

/// Where a fork pool's time goes, at parent size 0.
pub struct Phases {
    pub medians: [(&'static str, u64); 5],
    /// Page faults per child: the bare fork's, a pool worker's.
    pub faults: [i64; 2],
}

/// The medians of each phase of a fork pool's cycle, with a second task added, and of
/// the bare fork, all interleaved; and the page faults each kind of child took, from
/// `getrusage(RUSAGE_CHILDREN)`.
pub fn fork_pool_phases(runs: u32) -> Result<Phases, String> {
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
