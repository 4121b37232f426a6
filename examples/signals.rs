//! Which signal dispositions a worker inherits, read from the kernel's own account.
//!
//! The parent installs a handler for SIGUSR1, blocks SIGUSR2 and ignores SIGHUP. Then a
//! worker, and a program that is not Rust (`sleep`, started with `Command`), report what
//! `/proc/PID/status` says of them: SigCgt (caught), SigBlk (blocked), SigIgn (ignored).
//!
//! ```text
//! cargo run -q --example signals -- fork
//! cargo run -q --example signals -- spawn
//! ```
//!
//! Chapter: "Signal handling" (src/signals.md).

// `mdbook test` passes no `--extern` flags; these make the file compile there too.
extern crate clap;
extern crate forkspawn;
extern crate instruments;
extern crate nix;

use std::process::{Command, ExitCode, Stdio};

use clap::Parser;
use forkspawn::{Pool, StartMethod, task};
use instruments::inspect::{self, SignalDispositions};
use instruments::say;
use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction, signal,
    sigprocmask,
};

extern "C" fn on_sigusr1(_: i32) {}

/// Puts back the kernel's defaults that the program's own starter may have changed: a shell
/// starts a program in the background with SIGINT and SIGQUIT ignored, and a parent may
/// leave signals blocked. SIGPIPE stays as Rust's runtime set it, ignored. Called in the
/// parent only (after `init()`), so that what a worker inherits is what the chapter sets.
fn from_the_defaults() -> Result<(), Box<dyn std::error::Error>> {
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    let ignored = inspect::signal_dispositions(std::process::id())?.ignored;
    for signal_number in ignored.into_iter().filter(|&s| s != Signal::SIGPIPE) {
        // SAFETY: the default disposition installs no handler.
        unsafe { signal(signal_number, SigHandler::SigDfl) }?;
    }
    Ok(())
}

// ANCHOR: set_up
/// A handler for SIGUSR1, SIGUSR2 blocked, SIGHUP ignored.
fn set_up_signals() -> nix::Result<()> {
    let handler = SigAction::new(
        SigHandler::Handler(on_sigusr1),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR1, &handler) }?;
    sigprocmask(
        SigmaskHow::SIG_BLOCK,
        Some(&SigSet::from(Signal::SIGUSR2)),
        None,
    )?;
    // SAFETY: ignoring a signal installs no handler.
    unsafe { signal(Signal::SIGHUP, SigHandler::SigIgn) }?;
    Ok(())
}
// ANCHOR_END: set_up

// ANCHOR: report
/// The kernel's account of process `pid`, raw, then for the four signals of the chapter.
fn report(pid: u32) -> Result<(String, String), String> {
    let kernel = inspect::signal_dispositions(pid).map_err(|e| e.to_string())?;
    let names = |signals: &[Signal]| {
        let names: Vec<&str> = signals.iter().map(|s| s.as_str()).collect();
        if names.is_empty() {
            "-".to_owned()
        } else {
            names.join(" ")
        }
    };
    let raw = format!(
        "SigCgt {}; SigBlk {}; SigIgn {}",
        names(&kernel.caught),
        names(&kernel.blocked),
        names(&kernel.ignored)
    );
    let watched = [
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGHUP,
        Signal::SIGPIPE,
    ];
    let summary: Vec<String> = watched
        .iter()
        .map(|&signal| format!("{signal} {}", disposition(&kernel, signal)))
        .collect();
    Ok((raw, summary.join(", ")))
}

fn disposition(kernel: &SignalDispositions, signal: Signal) -> &'static str {
    match (
        kernel.caught.contains(&signal),
        kernel.blocked.contains(&signal),
        kernel.ignored.contains(&signal),
    ) {
        (true, _, _) => "caught",
        (_, true, _) => "blocked",
        (_, _, true) => "ignored",
        _ => "default",
    }
}
// ANCHOR_END: report

/// The worker's task: say what the kernel says of this process.
fn report_self(_: ()) -> Result<(), String> {
    let (raw, summary) = report(std::process::id())?;
    say!("{raw}");
    say!("{summary}");
    Ok(())
}

/// Which signal dispositions a worker inherits, under fork and spawn.
#[derive(Parser)]
#[command(name = "signals")]
struct Args {
    /// How the worker starts
    #[arg(value_parser = instruments::cli::start_method())]
    method: StartMethod,
}

// ANCHOR: main
fn main() -> ExitCode {
    forkspawn::init();
    let args: Args = instruments::cli::parse_args();
    instruments::cli::exit_code(run(args.method))
}

fn run(method: StartMethod) -> Result<(), Box<dyn std::error::Error>> {
    from_the_defaults()?;
    set_up_signals()?;
    say!("the parent catches SIGUSR1, blocks SIGUSR2 and ignores SIGHUP");
    report_self(())?;

    let mut pool = Pool::new(method, 1)?;
    pool.map(task!(report_self), [()])?
        .into_iter()
        .collect::<Result<(), String>>()?;
    pool.shutdown()?;

    // A program that is not Rust, so that what it shows comes from exec alone: a Rust
    // program's runtime sets SIGPIPE to "ignore" again when it starts.
    let mut sleep = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .spawn()?;
    let seen = report(sleep.id());
    sleep.kill()?;
    sleep.wait()?;
    let (raw, summary) = seen?;
    say!("`sleep`, started by Command (posix_spawn, which execs it):");
    say!("{raw}");
    say!("{summary}");
    Ok(())
}
// ANCHOR_END: main
