//! The loop every worker runs, however it was started.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, PoisonError};

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
pub(crate) fn serve(name: &str, mut channel: Channel, announce_readiness: bool) -> i32 {
    install_panic_hook();
    SERVING.store(true, Ordering::Relaxed);
    // The pool does not wait for this: it reads it in front of the first reply.
    if announce_readiness && let Err(error) = channel.send(&Reply::Ready) {
        return leave(name, &error);
    }
    loop {
        let request = match channel.receive::<Request>() {
            Ok(Some(request)) => request,
            Ok(None) => return 0, // the pool closed the channel: shut down
            Err(error) => return leave(name, &error),
        };
        let Request::Run { task, input } = request;
        let reply = run(&task, input);
        if let Reply::Panicked { .. } = reply {
            let _ = channel.send(&reply);
            return PANIC_EXIT_CODE; // its state may be broken: take no further task
        }
        if let Err(error) = channel.send(&reply) {
            return leave(name, &error);
        }
    }
}

/// The exit code of a worker that could not use its channel. A pool that closed it with
/// a message unread, or before the worker's first one, makes it fail with a broken pipe or
/// a reset connection: that is a shutdown, not an error.
fn leave(name: &str, error: &io::Error) -> i32 {
    match error.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => 0,
        _ => {
            eprintln!("{name}: lost the channel to the pool: {error}");
            1
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

/// True in a process that serves as a worker: its panics are kept for the pool.
static SERVING: AtomicBool = AtomicBool::new(false);

/// Installs, once per process, a panic hook for workers: a worker's panic is reported once,
/// by the parent, in one line, so the worker keeps the message for that instead of
/// printing it. With `RUST_BACKTRACE` set, the worker also prints Rust's usual report,
/// backtrace included. In a process that is not a worker, the usual report is printed.
///
/// The pool installs it before its first fork, so that a forked worker inherits it
/// installed and only has to set a flag: every page a forked child writes is copied.
pub(crate) fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let usual_report = panic::take_hook();
        let backtrace_wanted =
            std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        panic::set_hook(Box::new(move |info| {
            if !SERVING.load(Ordering::Relaxed) {
                return usual_report(info);
            }
            let message = info.payload_as_str().unwrap_or("a panic without a message");
            // The program's own files have relative paths; a dependency's have absolute
            // paths into cargo's registry, which name nothing the user can act on.
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
    });
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
        Ok(channel) => {
            serve(name, Channel::from_stream(UnixStream::from(channel)), true)
        }
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
