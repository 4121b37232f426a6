//! No descriptor of one pool reaches another pool's worker, whichever threads start pools
//! at once: two threads start pools side by side, and every worker says which sockets and
//! process descriptors it holds.

use std::thread;
use std::time::{Duration, Instant};

use forkspawn::{StartMethod, task};

use crate::harness::Case;

/// Pools each thread starts, for each pairing of methods: 1,200 pools in all.
const POOLS_PER_THREAD: usize = 200;

/// What the whole case may take (the pools and their checks), on a busy machine.
const BUDGET: Duration = Duration::from_secs(20);

pub fn cases() -> Vec<Case> {
    vec![Case::new(
        "fork beside spawn, fork and forkserver: 1,200 pools on two threads, no borrowed descriptor",
        BUDGET + Duration::from_secs(20),
        pools_on_two_threads_borrow_nothing,
    )]
}

/// What a worker holds beyond its standard streams that belongs to a pool: sockets
/// (its channel, and any other pool's), and descriptors for processes (another pool's
/// watch on its workers).
fn pool_descriptors_held(_: u64) -> (usize, usize) {
    let (mut sockets, mut pidfds) = (0, 0);
    for entry in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        sockets += usize::from(target.starts_with("socket:"));
        pidfds += usize::from(target == "anon_inode:[pidfd]");
    }
    (sockets, pidfds)
}

/// Starts `count` pools of one worker, one after the other, and counts those whose worker
/// held more than its own channel.
fn pools_borrowing(method: StartMethod, count: usize) -> Result<usize, String> {
    let mut borrowing = 0;
    for n in 1..=count {
        let context = |e: forkspawn::PoolError| format!("{method} pool {n}: {e}");
        let mut pool = crate::builder(method).start().map_err(context)?;
        let held = pool
            .map(task!(pool_descriptors_held), [0])
            .map_err(context)?;
        pool.shutdown().map_err(context)?;
        borrowing += usize::from(held != [(1, 0)]);
    }
    Ok(borrowing)
}

fn pools_on_two_threads_borrow_nothing() -> Result<(), String> {
    let started = Instant::now();
    let mut report = Vec::new();
    for other in [
        StartMethod::Spawn,
        StartMethod::Fork,
        StartMethod::Forkserver,
    ] {
        let beside = thread::spawn(move || pools_borrowing(other, POOLS_PER_THREAD));
        let forked = pools_borrowing(StartMethod::Fork, POOLS_PER_THREAD)?;
        let beside = beside.join().map_err(|_| "the other thread panicked")??;
        if forked + beside > 0 {
            report.push(format!(
                "fork beside {other}: {forked} fork pools and {beside} {other} pools \
                 of {POOLS_PER_THREAD} each had a worker holding a descriptor not its own"
            ));
        }
    }
    let took = started.elapsed();
    if took > BUDGET {
        report.push(format!("the pools took {took:?}, more than {BUDGET:?}"));
    }
    match report.is_empty() {
        true => Ok(()),
        false => Err(report.join("; ")),
    }
}
