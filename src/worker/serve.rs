//! The loop every worker runs, however it was started.

use std::cell::{Cell, RefCell};
#[cfg(unix)]
use std::fs::File;
use std::io;
#[cfg(unix)]
use std::os::fd::{FromRawFd, OwnedFd};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(unix)]
use crate::worker::bootstrap;
use crate::worker::channel::{
    self, Bytes, Channel, Outcome, RawChannel, Reply, Request,
};
use crate::worker::task;
use crate::worker::unlocked_io;

/// Exit code of a worker whose life ended in a panic no guard caught, the code Rust
/// gives a panicking `main`.
pub(crate) const PANIC_EXIT_CODE: i32 = 101;

/// The serving worker's channel, for its panic hook; [`NOT_SERVING`] in a process that
/// does not serve.
static SERVING_CHANNEL: AtomicU64 = AtomicU64::new(NOT_SERVING);
const NOT_SERVING: u64 = u64::MAX;

/// The request the serving worker is running, and the input of it, for its panic hook's
/// note.
static CURRENT_REQUEST: AtomicU64 = AtomicU64::new(0);
static CURRENT_ITEM: AtomicU32 = AtomicU32::new(0);

/// True in a worker that serves, however it was started: `init()` asks, because a task
/// that calls it must be told so, not turned into a second worker on the same channel.
pub(crate) fn is_serving() -> bool {
    SERVING_CHANNEL.load(Ordering::Relaxed) != NOT_SERVING
}

thread_local! {
    /// True on the thread that serves: only its panics are the pool's business.
    static SERVING_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The message of the panic being caught on the serving thread, left by the hook.
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

// ANCHOR: serve
/// Serves requests until the pool closes the channel; returns the worker's exit code.
///
/// Runs in a forked child straight after `fork()`, and in a spawned child from
/// `init()`.
pub(crate) fn serve(name: &str, mut channel: Channel, announce_readiness: bool) -> i32 {
    #[allow(clippy::unnecessary_cast)]
    // an `i32` descriptor on Unix, a `u64` on Windows
    SERVING_CHANNEL.store(channel.raw() as u64, Ordering::Relaxed);
    SERVING_THREAD.with(|serving| serving.set(true));
    // The pool does not wait for this: it reads it in front of the first reply.
    if announce_readiness && let Err(error) = channel.send(&Reply::Ready) {
        return leave(name, &error);
    }
    let mut tasks = TaskCache::default();
    loop {
        let request = match channel.receive::<Request>() {
            Ok(Some(request)) => request,
            Ok(None) => return 0, // the pool closed the channel: shut down
            Err(error) => return leave(name, &error),
        };
        let Request::Run { id, task, inputs } = request;
        CURRENT_REQUEST.store(id, Ordering::Relaxed);
        let reply = match tasks.find(&task) {
            Ok(entry) => Reply::Done {
                id,
                outcomes: run_each(entry, inputs),
            },
            Err(reason) => Reply::Refused { id, reason },
        };
        if let Err(error) = send_reply(&mut channel, reply) {
            return leave(name, &error);
        }
    }
}

/// Sends a reply; one too large for a frame is sent again with every result replaced
/// by the reason, so that the pool hears why rather than nothing.
fn send_reply(channel: &mut Channel, reply: Reply) -> io::Result<()> {
    match channel.send(&reply) {
        Err(error) if error.kind() == io::ErrorKind::InvalidInput => {
            let Reply::Done { id, outcomes } = reply else {
                return Err(error);
            };
            let reason = format!("cannot send the result: {error}");
            let outcomes = outcomes
                .into_iter()
                .map(|outcome| match outcome {
                    Outcome::Value(_) => Outcome::Failed(reason.clone()),
                    other => other,
                })
                .collect();
            channel.send(&Reply::Done { id, outcomes })
        }
        sent => sent,
    }
}

/// The exit code of a worker that could not use its channel. A pool that closed it with
/// a message unread, or before the worker's first one, makes it fail with a broken pipe or
/// a reset connection: that is a shutdown, not an error.
fn leave(name: &str, error: &io::Error) -> i32 {
    match error.kind() {
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => 0,
        _ => {
            let line = format!("{name}: lost the channel to the pool: {error}\n");
            unlocked_io::write_stderr(line.as_bytes());
            1
        }
    }
}
// ANCHOR_END: serve

/// The task found for the last request: a pool sends one task many times in a row,
/// and the table is searched once for it.
#[derive(Default)]
struct TaskCache {
    last: Option<(String, &'static task::TaskEntry)>,
}

impl TaskCache {
    fn find(&mut self, name: &str) -> Result<&'static task::TaskEntry, String> {
        if let Some((last, entry)) = &self.last
            && last == name
        {
            return Ok(entry);
        }
        let entry = task::find(name)?
            .ok_or_else(|| format!("this program has no task named `{name}`"))?;
        self.last = Some((name.to_owned(), entry));
        Ok(entry)
    }
}

// ANCHOR: run_each
/// Runs the task on each input in turn. A panic fails its own input only: the worker
/// serves on, as a Python worker does after an exception.
fn run_each(entry: &task::TaskEntry, inputs: Vec<Bytes>) -> Vec<Outcome> {
    let mut outcomes = Vec::with_capacity(inputs.len());
    for (item, input) in inputs.iter().enumerate() {
        CURRENT_ITEM.store(item as u32, Ordering::Relaxed);
        let outcome = match panic::catch_unwind(AssertUnwindSafe(|| (entry.run)(input)))
        {
            Ok(Ok(output)) => Outcome::Value(output),
            Ok(Err(reason)) => Outcome::Failed(reason),
            Err(payload) => {
                // Dropping a panic's payload runs its `Drop`, which may panic in turn,
                // this time outside any guard (rust-lang/rust#86027). It is not dropped.
                std::mem::forget(payload);
                let message = PANIC_MESSAGE.with(|m| m.borrow_mut().take());
                Outcome::Panicked(message.unwrap_or_else(|| NO_MESSAGE.to_owned()))
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}
// ANCHOR_END: run_each

const NO_MESSAGE: &str = "a panic without a message";

/// Runs a worker's whole life and returns its exit code; a panic that escapes every
/// other guard ends here, so that it never unwinds into the code that started the
/// worker: the parent's `main`, copied by `fork()`, or the user's `main` around `init()`.
pub(crate) fn contain(body: impl FnOnce() -> i32) -> i32 {
    panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        std::mem::forget(payload); // see `run`
        PANIC_EXIT_CODE
    })
}

/// Installs, once per process, a panic hook for workers. A worker's panic is reported once,
/// by the parent, in one line: the hook sends the message to the pool at once, as a
/// note on the current request, so that it arrives even if the panic then aborts the
/// process (`panic = "abort"`, or a second panic while unwinding). With `RUST_BACKTRACE`
/// set, the worker also prints Rust's usual report, backtrace included. In a process that
/// is not a worker, and on a worker's other threads, the usual report is printed.
///
/// The pool installs it before its first fork, so that a forked worker inherits it
/// installed and only has to store its channel: every page a forked child writes is
/// copied, and installing a hook takes a lock.
pub(crate) fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let usual_report = panic::take_hook();
        let backtrace_wanted =
            std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
        panic::set_hook(Box::new(move |info| {
            let channel = SERVING_CHANNEL.load(Ordering::Relaxed);
            if channel == NOT_SERVING || !SERVING_THREAD.with(Cell::get) {
                return usual_report(info);
            }
            let message = info.payload_as_str().unwrap_or(NO_MESSAGE).to_owned();
            // The pool's error is one line: the message, as Python's summary line gives the
            // exception. Where it happened is in the usual report, which RUST_BACKTRACE
            // asks for.
            if backtrace_wanted {
                usual_report(info);
            }
            let id = CURRENT_REQUEST.load(Ordering::Relaxed);
            let item = CURRENT_ITEM.load(Ordering::Relaxed);
            #[allow(clippy::unnecessary_cast)] // stored from a `RawChannel` above
            send_panic(channel as RawChannel, id, item, message.clone());
            PANIC_MESSAGE.with(|m| *m.borrow_mut() = Some(message));
        }));
    });
}

/// Sends a `Panicking` note with `write(2)` (`send` on Windows): the hook may run at
/// any point of a task, so it writes one whole frame of its own rather than use the
/// loop's `Channel`.
fn send_panic(channel: RawChannel, id: u64, item: u32, message: String) {
    let Ok(frame) = channel::frame(&Reply::Panicking { id, item, message }) else {
        return;
    };
    let _ = channel::write_raw(channel, &frame);
}

/// The start of a spawned worker, from `init()`: the parent handed it its end of the
/// channel as descriptor 3 (on Windows, as the inherited socket `inherited`).
pub(crate) fn serve_spawned(name: &str, #[cfg(windows)] inherited: RawChannel) -> i32 {
    install_panic_hook();
    #[cfg(unix)]
    let taken = take_channel().map(UnixStream::from);
    #[cfg(windows)]
    let taken = crate::worker::loopback::take_inherited(inherited)
        .and_then(|stream| detach_stdin().map(|()| stream));
    match taken {
        Ok(stream) => serve(name, Channel::from_stream(stream), true),
        Err(error) => {
            let line =
                format!("{name}: cannot take the channel to the pool: {error}\n");
            unlocked_io::write_stderr(line.as_bytes());
            1
        }
    }
}

/// Takes the channel to the pool from descriptor 3, where the parent put it, and, now
/// that `main` has handed over, gives the process `/dev/null` as standard input. Code
/// before `init()` had the parent's standard input, and may have used it.
#[cfg(unix)]
pub(crate) fn take_channel() -> io::Result<OwnedFd> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    // Close-on-exec from now on: what this process starts must not hold the channel.
    // SAFETY: descriptor 3 was put there for this process by the pool, and is taken once.
    let channel = unsafe { OwnedFd::from_raw_fd(bootstrap::CHANNEL_FD) };
    if let Err(error) = fcntl(&channel, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
        std::mem::forget(channel); // not ours: nothing was there to take
        return Err(error.into());
    }
    detach_stdin()?;
    Ok(channel)
}

/// Gives the worker `/dev/null` as standard input, as Python does: a worker that reads
/// its standard input must not steal the terminal's bytes. `open(2)` and `dup2(2)` are async-signal-safe, and a path this short is
/// turned into a C string on the stack, without allocating.
#[cfg(unix)]
pub(crate) fn detach_stdin() -> io::Result<()> {
    nix::unistd::dup2_stdin(File::open("/dev/null")?)?;
    Ok(())
}

/// Windows: the worker's standard input becomes `NUL`, as `/dev/null` on Unix.
#[cfg(windows)]
fn detach_stdin() -> io::Result<()> {
    use std::os::windows::io::IntoRawHandle;
    use windows_sys::Win32::System::Console::{STD_INPUT_HANDLE, SetStdHandle};
    let null = std::fs::File::open("NUL")?.into_raw_handle();
    // SAFETY: `null` is an open handle, given to the process as its standard input.
    if unsafe { SetStdHandle(STD_INPUT_HANDLE, null) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic payload whose `Drop` panics too.
    struct PanicsWhenDropped;

    impl Drop for PanicsWhenDropped {
        fn drop(&mut self) {
            panic!("the payload was dropped");
        }
    }

    fn explode(_: u64) -> u64 {
        panic::panic_any(PanicsWhenDropped)
    }

    #[test]
    fn a_panic_payload_that_panics_when_dropped_is_never_dropped() {
        let task = crate::task!(explode);
        let input = crate::worker::wire::encode(&1_u64).unwrap();
        let entry = TaskCache::default().find(task.name()).unwrap();
        let outcomes = run_each(entry, vec![input]);
        assert!(matches!(outcomes[..], [Outcome::Panicked(_)]));
    }

    #[test]
    fn a_panic_that_escapes_the_loop_becomes_the_panic_exit_code() {
        let code = contain(|| panic::panic_any(PanicsWhenDropped));
        assert_eq!(code, PANIC_EXIT_CODE);
    }
}
