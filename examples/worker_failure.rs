//! A worker that does not come back: what the pool reports, and what it leaves behind
//! (nothing).
//!
//! Workers square the inputs 1 to 4. With `--fail`, the task fails on input 3 in the
//! way chosen, or the initializer fails, or `main` forgets to call `forkspawn::init()`.
//!
//! ```text
//! cargo run -q --example worker_failure -- fork --fail panic
//! cargo run -q --example worker_failure -- spawn --fail signal
//! ```
//!
//! Chapter: "When a worker dies" (src/worker-failure.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate nix;

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use forkspawn::{Pool, PoolError, StartMethod, initializer, say, task};
use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal, raise, signal};
use nix::sys::wait::{WaitPidFlag, waitpid};

/// How things go wrong.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Failure {
    /// Nothing fails: the pool squares every input
    None,
    /// The task panics on input 3
    Panic,
    /// The task calls `exit(3)` on input 3
    Exit,
    /// The task is killed by SIGKILL on input 3, as by the kernel's out-of-memory
    /// killer
    Signal,
    /// The initializer returns an error in every worker
    Initializer,
    /// `main` does not call `forkspawn::init()`
    ForgetInit,
}

/// Workers square the inputs 1 to 4; `--fail` chooses what goes wrong.
#[derive(Parser)]
#[command(name = "worker_failure")]
struct Args {
    /// How the two workers start
    method: StartMethod,
    /// What fails
    #[arg(long, value_enum, default_value = "none")]
    fail: Failure,
    /// How many workers
    #[arg(
        long,
        default_value_t = 2,
        value_parser = clap::value_parser!(u16).range(1..=64),
    )]
    workers: u16,
    /// Ignore SIGCHLD in the parent, as some daemons do: the kernel then reaps the
    /// workers itself, and how they ended is lost
    #[arg(long)]
    ignore_sigchld: bool,
    /// Read all of standard input before `forkspawn::init()`, in every process that
    /// runs `main`, and say how many bytes came
    #[arg(long)]
    read_stdin: bool,
}

// ANCHOR: task
/// Input 1 is quick and input 2 slow, so that input 3 always goes to the first worker.
fn square(input: u64) -> u64 {
    say!("input {input}: started");
    thread::sleep(Duration::from_millis(if input == 2 { 1500 } else { 10 }));
    if input == 3 {
        match failure() {
            Failure::Panic => panic!("cannot square {input}"),
            Failure::Exit => std::process::exit(3),
            Failure::Signal => {
                let _ = raise(Signal::SIGKILL);
            }
            _ => {}
        }
    }
    say!("input {input}: done");
    input * input
}

fn open_database() -> Result<(), String> {
    Err("no database at db.sqlite".to_owned())
}
// ANCHOR_END: task

/// The workers read the failure from the command line they share with the parent.
fn failure() -> Failure {
    forkspawn::instruments::cli::parse_args::<Args>().fail
}

// ANCHOR: main
fn main() -> ExitCode {
    let args: Args = forkspawn::instruments::cli::parse_args();
    if args.read_stdin {
        // Code before `init()` owns standard input, in the parent and in a spawned worker.
        let mut input = Vec::new();
        let read = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input);
        say!("read {} bytes of standard input", read.unwrap_or(0));
    }
    if args.fail != Failure::ForgetInit {
        forkspawn::init();
    }
    say!(
        "{} worker(s), started by {}, square 1 to 4",
        args.workers,
        args.method
    );
    let result = run(&args);
    say!("child processes left: {}", children_left());
    forkspawn::instruments::cli::exit_code(result)
}

fn run(args: &Args) -> Result<(), PoolError> {
    if args.ignore_sigchld {
        // SAFETY: ignoring a signal installs no handler.
        let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) };
    }
    let mut builder = Pool::builder(args.method).workers(args.workers.into());
    if args.fail == Failure::Initializer {
        builder = builder.initializer(initializer!(open_database));
    }
    let mut pool = builder.start()?;
    let squares = pool.map(task!(square), 1..=4)?;
    say!("squares: {squares:?}");
    pool.shutdown()
}
// ANCHOR_END: main

/// Asks the kernel whether this process still has a child, running or waiting to be
/// reaped.
fn children_left() -> &'static str {
    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        Err(Errno::ECHILD) => "none (waitpid: ECHILD)",
        _ => "SOME: a worker was left behind",
    }
}
