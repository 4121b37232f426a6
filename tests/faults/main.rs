//! Fault injection: the pool against workers, tasks and settings that misbehave, one file
//! per concern, each case under every start method it applies to.
//!
//! - `image.rs`: the program a spawn or a fork server executes is the running image;
//! - `unasked.rs`: a reply nobody asked for is a protocol error, never an answer;
//! - `borrowed_sockets.rs`: no worker holds a descriptor of another pool's;
//! - `exits.rs`: a worker's exit is seen when it happens, not when its channel ends;
//! - `worker_count.rs`: a worker count no machine can hold is refused;
//! - `errors.rs`: what a limit or a misuse hits is said in one line.
//!
//! Every case runs bounded in time (a hang is reported in one line, by the harness), and
//! after every case the harness counts the processes and descriptors left behind
//! (`harness.rs`). This test has its own `main` (`harness = false`) because a spawned
//! worker is this program executed again: `main` calls `forkspawn::init()` first. Some
//! cases run this program again as a child of their own (`child.rs`), to look at what a
//! whole process prints or which file it executes.

#[path = "../common/mod.rs"]
mod common;

mod borrowed_sockets;
mod child;
mod errors;
mod exits;
mod harness;
mod image;
mod unasked;
mod worker_count;

use std::time::Duration;

use forkspawn::{Pool, PoolBuilder, StartMethod, ThreadedFork};
use libtest_mimic::Arguments;

/// A pool's timeout in these cases: long beside what any case needs, short beside the
/// case's own limit, so that a time-out the fix should have avoided shows as one.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(8);

pub const METHODS: [StartMethod; 3] = [
    StartMethod::Fork,
    StartMethod::Spawn,
    StartMethod::Forkserver,
];

/// Settings for a case's pool: the runner has threads, and a fork there is on purpose.
pub fn builder(method: StartMethod) -> PoolBuilder {
    Pool::builder(method)
        .threaded_fork(ThreadedFork::Allow)
        .timeout(POOL_TIMEOUT)
}

fn main() {
    forkspawn::init();
    if let Some(code) = child::run_if_asked() {
        std::process::exit(code);
    }
    // A case's orphans (processes its tasks fork) come back to this process, which can
    // then count and reap them.
    nix::sys::prctl::set_child_subreaper(true).expect("cannot become a subreaper");
    let mut arguments = Arguments::from_args();
    // One case at a time: each counts what is left after it, which a case running
    // beside it would blur.
    arguments.test_threads = Some(1);
    let cases = image::cases()
        .into_iter()
        .chain(unasked::cases())
        .chain(borrowed_sockets::cases())
        .chain(exits::cases())
        .chain(worker_count::cases())
        .chain(errors::cases());
    let trials = cases.map(harness::trial).collect();
    libtest_mimic::run(&arguments, trials).exit();
}
