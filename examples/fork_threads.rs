//! Fork in a process that has threads: a lock that another thread holds at the moment of
//! `fork()` is held forever in the worker, by a thread the worker does not have.
//!
//! A second thread takes a lock (a mutex of this program's, or the lock `println!`
//! takes), says so, and holds it while the pool starts two workers and gives each an
//! input. The task needs that lock.
//!
//! ```text
//! cargo run -q --example fork_threads -- fork --lock mutex
//! cargo run -q --example fork_threads -- fork --lock stdout
//! cargo run -q --example fork_threads -- spawn --lock mutex
//! cargo run -q --example fork_threads -- fork --lock none --refuse
//! ```
//!
//! Chapter: "Fork and threads" (src/fork-threads.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use forkspawn::{Pool, PoolError, StartMethod, ThreadedFork, task};
use instruments::say;

/// The lock the second thread holds.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lock {
    /// A `Mutex` of this program's
    Mutex,
    /// The lock of standard output, which `println!` takes
    Stdout,
    /// None: the thread is there, and holds nothing
    None,
}

/// A second thread holds a lock across the fork; the workers need it.
#[derive(Parser)]
#[command(name = "fork_threads")]
struct Args {
    /// How the two workers start
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
    /// What the second thread holds
    #[arg(long, value_enum, default_value = "mutex")]
    lock: Lock,
    /// How long the pool waits for a worker, in seconds
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=600))]
    timeout: u64,
    /// Make the pool refuse to fork while the process has other threads
    #[arg(long)]
    refuse: bool,
    /// Start thread 2 before `forkspawn::init()`: a fork server runs that code too
    #[arg(long)]
    early_thread: bool,
}

// ANCHOR: task
/// A mutex of the program's own: each worker records its input in it.
static LEDGER: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// The task: take the lock the second thread holds in the parent, and use it.
fn record(input: u64) -> u64 {
    // say! itself takes no lock.
    match lock() {
        Lock::None => say!("input {input}: needs no lock"),
        _ => say!("input {input}: needs the lock"),
    }
    match lock() {
        Lock::Mutex => LEDGER
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(input),
        // The lock `println!` takes; unlike `println!`, no panic if the pipe is closed.
        Lock::Stdout => {
            let name = forkspawn::current_process_name();
            let _ =
                writeln!(io::stdout(), "{name:>16} input {input}: printed on stdout");
        }
        Lock::None => {}
    }
    say!("input {input}: done");
    input * 10
}
// ANCHOR_END: task

/// The workers read the lock from the command line they share with the parent.
fn lock() -> Lock {
    instruments::cli::parse_args::<Args>().lock
}

// ANCHOR: hold
/// The second thread: takes the lock, says so, and holds it until told to let go.
fn hold(lock: Lock, held: mpsc::Sender<()>, release: mpsc::Receiver<()>) {
    let ledger = (lock == Lock::Mutex).then(|| LEDGER.lock());
    let stdout = (lock == Lock::Stdout).then(|| io::stdout().lock());
    let _ = held.send(());
    let _ = release.recv_timeout(Duration::from_secs(600));
    drop((ledger, stdout));
}
// ANCHOR_END: hold

// ANCHOR: main
fn main() -> ExitCode {
    let args: Args = instruments::cli::parse_args();
    let (release, released) = mpsc::channel();
    let mut released = Some(released);
    let mut start = || start_holder(args.lock, released.take());
    // Code before `init()` runs again in every spawned worker and in a fork server.
    let early = args.early_thread.then(&mut start);
    forkspawn::init();
    let Some(holder) = early.unwrap_or_else(start) else {
        say!("the second thread never took the lock");
        return ExitCode::FAILURE;
    };
    say!(
        "thread 2 holds {}; starting 2 workers by {}",
        args.lock.held(),
        args.method
    );
    let result = run(&args);
    let _ = release.send(());
    let _ = holder.join();
    say!("thread 2 lets go");
    instruments::cli::exit_code(result)
}

/// Starts thread 2 and returns once it holds its lock: the fork happens while the lock is
/// held, on purpose. `None` if the thread never took it.
fn start_holder(
    lock: Lock,
    released: Option<mpsc::Receiver<()>>,
) -> Option<thread::JoinHandle<()>> {
    let (held, is_held) = mpsc::channel();
    let released = released?;
    let holder = thread::spawn(move || hold(lock, held, released));
    is_held.recv_timeout(Duration::from_secs(10)).ok()?;
    Some(holder)
}

fn run(args: &Args) -> Result<(), PoolError> {
    let mut pool = Pool::builder(args.method)
        .workers(2)
        .timeout(Duration::from_secs(args.timeout))
        .threaded_fork(if args.refuse {
            ThreadedFork::Refuse
        } else {
            ThreadedFork::Warn
        })
        .start()?;
    let results = pool.map(task!(record), [1, 2])?;
    say!("results: {results:?}");
    pool.shutdown()
}
// ANCHOR_END: main

impl Lock {
    fn held(self) -> &'static str {
        match self {
            Lock::Mutex => "the ledger's lock",
            Lock::Stdout => "the stdout lock",
            Lock::None => "no lock",
        }
    }
}
