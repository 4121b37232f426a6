//! A fork server between pools: it outlives the pool that started it, serves the next
//! one, keeps the environment it started with, and ends at `ForkServer::stop()`.
//!
//! Three forkserver pools, one after another. A worker of each says which process forked
//! it and what it sees of a variable the parent sets after the first pool.
//!
//! ```text
//! cargo run -q --example forkserver
//! ```
//!
//! Chapter: "Forkserver" (src/forkserver.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;
extern crate nix;

use std::process::ExitCode;

use clap::Parser;
use forkspawn::{ForkServer, Pool, PoolError, StartMethod, task};
use instruments::say;
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// The variable the parent sets between the first and the second pool.
const VARIABLE: &str = "FORKSPAWN_GREETING";

/// What a worker reports: the process that forked it, and the variable as it sees it.
fn who_forked_me(_: u32) -> (u32, Option<String>) {
    let parent = nix::unistd::getppid().as_raw() as u32;
    (parent, std::env::var(VARIABLE).ok())
}

/// A fork server between pools: one server, three pools, one `stop()`.
#[derive(Parser)]
#[command(name = "forkserver")]
struct Args {}

fn main() -> ExitCode {
    forkspawn::init();
    let _: Args = instruments::cli::parse_args();
    instruments::cli::exit_code(run())
}

// ANCHOR: run
fn run() -> Result<(), PoolError> {
    let (first, _) = one_pool(1)?;
    say!(
        "pool 1 is shut down; its server still runs: {}",
        yes(running(first))
    );
    // SAFETY: this program has one thread; nothing reads the environment meanwhile.
    unsafe { std::env::set_var(VARIABLE, "hello") };
    say!("the parent sets {VARIABLE}=hello");
    let (second, seen) = one_pool(2)?;
    say!("pool 2 used the same server: {}", yes(second == first));
    say!("pool 2's worker sees {VARIABLE}: {}", shown(&seen));
    ForkServer::stop();
    say!(
        "ForkServer::stop(); the server was reaped: {}",
        yes(reaped(first))
    );
    let (third, seen) = one_pool(3)?;
    say!("pool 3 started a new server: {}", yes(third != first));
    say!("pool 3's worker sees {VARIABLE}: {}", shown(&seen));
    Ok(())
}
// ANCHOR_END: run

/// Starts a forkserver pool of one worker, asks it, and shuts the pool down.
fn one_pool(number: u32) -> Result<(u32, Option<String>), PoolError> {
    let mut pool = Pool::new(StartMethod::Forkserver, 1)?;
    let answer = pool.map(task!(who_forked_me), [number])?.remove(0);
    pool.shutdown()?;
    say!("pool {number}: its worker was forked by pid {}", answer.0);
    Ok(answer)
}

/// Whether `pid`, a child of this process, still runs (it is not even a zombie).
fn running(pid: u32) -> bool {
    let pid = Pid::from_raw(pid as i32);
    matches!(
        waitpid(pid, Some(WaitPidFlag::WNOHANG)),
        Ok(WaitStatus::StillAlive)
    )
}

/// Whether `pid` is no longer a child of this process: it has ended and been reaped.
fn reaped(pid: u32) -> bool {
    let pid = Pid::from_raw(pid as i32);
    waitpid(pid, Some(WaitPidFlag::WNOHANG)) == Err(Errno::ECHILD)
}

fn yes(answer: bool) -> &'static str {
    if answer { "yes" } else { "no" }
}

fn shown(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("(not set)")
}
