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
extern crate instruments;
#[cfg(unix)]
extern crate nix;

use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use forkspawn::{Pool, PoolError, StartMethod, initializer, task};
use instruments::say;

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
    /// killer (on Windows, by `TerminateProcess`, as by `taskkill /F`)
    Signal,
    /// The initializer returns an error in every worker
    Initializer,
    /// `main` does not call `forkspawn::init()`
    ForgetInit,
    /// `main` takes 10 s before `forkspawn::init()` in a spawned worker or a fork server,
    /// and the pool waits 3 s
    SlowStart,
}

/// Workers square the inputs 1 to 4; `--fail` chooses what goes wrong.
#[derive(Parser)]
#[command(name = "worker_failure")]
struct Args {
    /// How the two workers start
    #[arg(value_parser = instruments::cli::start_method())]
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
    #[cfg(unix)]
    #[arg(long)]
    ignore_sigchld: bool,
    /// Read all of standard input before `forkspawn::init()`, in every process that
    /// runs `main`, and say how many bytes came
    #[arg(long)]
    read_stdin: bool,
    /// After the pool, wait 10 s with the fork server kept, as a program between two
    /// pools does
    #[arg(long)]
    linger: bool,
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
            Failure::Signal => kill_this_process(),
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
    instruments::cli::parse_args::<Args>().fail
}

// ANCHOR: main
fn main() -> ExitCode {
    let args: Args = instruments::cli::parse_args();
    if args.read_stdin {
        // Code before `init()` owns standard input, in the parent and in a spawned worker.
        let mut input = Vec::new();
        let read = std::io::Read::read_to_end(&mut std::io::stdin(), &mut input);
        say!("read {} bytes of standard input", read.unwrap_or(0));
    }
    if args.fail == Failure::SlowStart
        && forkspawn::current_process_name() != "MainProcess"
    {
        say!("slow start: 10 s before forkspawn::init()");
        thread::sleep(Duration::from_secs(10));
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
    if args.linger {
        say!("between pools: the fork server, if any, waits for the next one");
        thread::sleep(Duration::from_secs(10));
    }
    // A fork server outlives its pool, to serve the next one; stopping it here makes the
    // count below one of what the pool and the server leave behind.
    #[cfg(unix)]
    forkspawn::ForkServer::stop();
    say!("child processes left: {}", children_left());
    instruments::cli::exit_code(result)
}

fn run(args: &Args) -> Result<(), PoolError> {
    #[cfg(unix)]
    if args.ignore_sigchld {
        use nix::sys::signal::{SigHandler, Signal, signal};
        // SAFETY: ignoring a signal installs no handler.
        let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) };
    }
    let mut builder = Pool::builder(args.method).workers(args.workers.into());
    if args.fail == Failure::Initializer {
        builder = builder.initializer(initializer!(open_database));
    }
    if args.fail == Failure::SlowStart {
        builder = builder.timeout(Duration::from_secs(3));
    }
    let mut pool = builder.start()?;
    // Each input's result, failures included: a failure is its input's alone.
    let mut first_failure = None;
    let squares: Vec<String> = pool
        .imap(task!(square), 1..=4)
        .map(|result| match result {
            Ok(square) => square.to_string(),
            Err(error) => {
                first_failure.get_or_insert(error);
                "failed".to_owned()
            }
        })
        .collect();
    say!("squares: [{}]", squares.join(", "));
    if first_failure.is_some() {
        match pool.map(task!(square), [5, 6]) {
            Ok(again) => say!("the same pool, again: {again:?}"),
            Err(PoolError::Broken { .. }) => say!("the same pool, again: broken"),
            Err(error) => say!("the same pool, again: {error}"),
        }
    }
    // The first failure is the one to report; shutdown's, only if there was none.
    let shut_down = pool.shutdown();
    first_failure.map_or(shut_down, Err)
}
// ANCHOR_END: main

/// Ends this process at once, from outside its code: no unwinding, no exit code of its
/// own choosing.
fn kill_this_process() {
    #[cfg(unix)]
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    // What Task Manager and `taskkill /F` do; the code they give is 1.
    #[cfg(windows)]
    // SAFETY: ends this process; nothing runs after it.
    unsafe {
        use windows_sys::Win32::System::Threading::{
            GetCurrentProcess, TerminateProcess,
        };
        TerminateProcess(GetCurrentProcess(), 1);
    }
}

/// Asks the kernel whether this process still has a child, running or waiting to be
/// reaped.
#[cfg(unix)]
fn children_left() -> &'static str {
    use nix::errno::Errno;
    use nix::sys::wait::{WaitPidFlag, waitpid};
    match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        Err(Errno::ECHILD) => "none (waitpid: ECHILD)",
        _ => "SOME: a worker was left behind",
    }
}

/// Windows keeps no zombies, and no list of a process's children: asks for every
/// running process, and looks for one whose parent is this process.
#[cfg(windows)]
fn children_left() -> &'static str {
    use windows_sys::Win32::Foundation::{CloseHandle, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW,
        TH32CS_SNAPPROCESS,
    };
    let me = std::process::id();
    // SAFETY: a snapshot is walked with an entry whose size field is set, then closed.
    let found = unsafe {
        let snapshot = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        if snapshot == INVALID_HANDLE_VALUE {
            return "unknown (no process snapshot)";
        }
        let mut entry: PROCESSENTRY32W = std::mem::zeroed();
        entry.dwSize = std::mem::size_of::<PROCESSENTRY32W>() as u32;
        let mut found = false;
        let mut more = Process32FirstW(snapshot, &mut entry) != 0;
        while more && !found {
            found = entry.th32ParentProcessID == me && entry.th32ProcessID != me;
            more = Process32NextW(snapshot, &mut entry) != 0;
        }
        CloseHandle(snapshot);
        found
    };
    match found {
        false => "none (process snapshot: no child)",
        true => "SOME: a worker was left behind",
    }
}
