//! The loop every worker runs, however it was started.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::channel::{Channel, Reply, Request};
use crate::task;

/// Exit code of a worker whose task panicked, the code Rust gives a panicking `main`.
const PANIC_EXIT_CODE: i32 = 101;

/// The message of the last panic, kept by the worker's panic hook for the parent to
/// print.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

// ANCHOR: serve
/// Serves requests until the pool closes the channel; returns the worker's exit code.
///
/// Runs in a forked child straight after `fork()`, and in a spawned child from
/// `init()`.
pub(crate) fn serve(name: &str, mut channel: Channel) -> i32 {
    report_panics_to_parent();
    if channel.send(&Reply::Ready).is_err() {
        return 1;
    }
    loop {
        let request = match channel.receive::<Request>() {
            Ok(Some(request)) => request,
            // The pool closed the channel (a reset, if it left a reply unread): shut
            // down.
            Ok(None) => return 0,
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => return 0,
            Err(error) => {
                eprintln!("{name}: lost the channel to the pool: {error}");
                return 1;
            }
        };
        let Request::Run { task, input } = request;
        let reply = run(&task, input);
        if let Reply::Panicked { .. } = reply {
            let _ = channel.send(&reply);
            return PANIC_EXIT_CODE; // its state may be broken: take no further task
        }
        if channel.send(&reply).is_err() {
            return 1;
        }
    }
}
// ANCHOR_END: serve

fn run(task: &str, input: serde_json::Value) -> Reply {
    let Some(entry) = task::find(task) else {
        return Reply::Refused {
            reason: format!("this program has no task named `{task}`"),
        };
    };
    match panic::catch_unwind(AssertUnwindSafe(|| (entry.run)(input))) {
        Ok(Ok(output)) => Reply::Done { output },
        Ok(Err(reason)) => Reply::Refused { reason },
        Err(_) => Reply::Panicked {
            message: LAST_PANIC
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| "panicked".to_owned()),
        },
    }
}

/// A worker's panic is reported once, by the parent, in one line; the worker keeps the
/// message for that instead of printing it. With `RUST_BACKTRACE` set, the worker also prints
/// Rust's usual report, backtrace included.
fn report_panics_to_parent() {
    let usual_report = panic::take_hook();
    let backtrace_wanted = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or("a panic without a message");
        // The program's own files have relative paths; a dependency's have absolute paths
        // into cargo's registry, which name nothing the user can act on.
        let place = info
            .location()
            .filter(|l| Path::new(l.file()).is_relative())
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(format!("{message}{place}"));
        if backtrace_wanted {
            usual_report(info);
        }
    }));
}

/// The start of a spawned worker, from `init()`: the parent handed it its end of the
/// channel as standard input, the one descriptor `posix_spawn` passes without help. The
/// worker moves it to a fresh descriptor and puts `/dev/null` in its place, as Python
/// does for its workers' standard input.
pub(crate) fn serve_spawned(name: &str) -> i32 {
    let channel = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|channel| detach_stdin().map(|()| channel));
    match channel {
        Ok(channel) => serve(name, Channel::from_stream(UnixStream::from(channel))),
        Err(error) => {
            eprintln!(
                "{name}: cannot take the channel to the pool from standard input: {error}"
            );
            1
        }
    }
}

/// Gives the worker `/dev/null` as standard input, as Python does: a worker that reads
/// its standard input must not steal the terminal's (or a spawned worker's channel's)
/// bytes.
pub(crate) fn detach_stdin() -> io::Result<()> {
    nix::unistd::dup2_stdin(File::open("/dev/null")?)?;
    Ok(())
}

/// Flushes what the worker printed before it leaves through `_exit`, which flushes
/// nothing.
pub(crate) fn flush_std_streams() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
}
