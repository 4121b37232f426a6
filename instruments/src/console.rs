//! The printer the book's programs use: every line says which process wrote it, and
//! when.
//!
//! ```text
//! MainProcess      [ 0.00s] Start subprocess with 'spawn' method
//!   SpawnProcess-1 [ 1.00s] [FUNC SCOPE] List(0x5633f3e0a0c8) initially : ["Initial value"]
//! ```
//!
//! The clock is a static that starts at this process's first line. A
//! forked worker inherits it already running and continues the parent's count; a
//! spawned worker is a new execution of the program and starts its own at 0.00s, as
//! Python's `print_ts` at module scope does in the article.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use forkspawn::current_process_name;

/// Seconds on this process's clock: since its first line. The start is kept in an
/// atomic, not a `LazyLock`, and the colour below is decided with plain system calls:
/// `say!` takes no lock, even the first time a forked worker uses it.
fn seconds() -> f64 {
    clock::seconds_since_first_call()
}

#[cfg(unix)]
mod clock {
    use std::sync::atomic::{AtomicU64, Ordering};

    // ANCHOR: clock
    /// When this process's first line was printed, in nanoseconds of the monotonic
    /// clock; 0 before that. A forked worker inherits it set.
    static START: AtomicU64 = AtomicU64::new(0);
    // ANCHOR_END: clock

    pub(super) fn seconds_since_first_call() -> f64 {
        let now = monotonic_nanos();
        let start =
            match START.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => now,
                Err(start) => start,
            };
        now.saturating_sub(start) as f64 / 1e9
    }

    /// clock_gettime(2) is async-signal-safe.
    fn monotonic_nanos() -> u64 {
        let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
            .map_or(1, |t| {
                t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
            });
        now.max(1)
    }
}

#[cfg(not(unix))]
mod clock {
    use std::sync::LazyLock;
    use std::time::Instant;

    static START: LazyLock<Instant> = LazyLock::new(Instant::now);

    pub(super) fn seconds_since_first_call() -> f64 {
        START.elapsed().as_secs_f64()
    }
}

/// Whether to colour: 0 not decided yet, 1 no, 2 yes.
static COLOUR: AtomicU8 = AtomicU8::new(0);

/// Whether the book's programs colour what they print: standard output is a terminal and
/// `NO_COLOR` is unset or empty (no-color.org). Decided once, at first use.
pub fn colour_enabled() -> bool {
    match COLOUR.load(Ordering::Relaxed) {
        0 => {
            let colour = stdout_is_terminal() && no_color_is_unset();
            COLOUR.store(if colour { 2 } else { 1 }, Ordering::Relaxed);
            colour
        }
        decided => decided == 2,
    }
}

#[cfg(unix)]
fn stdout_is_terminal() -> bool {
    // SAFETY: a standard descriptor, only asked about.
    let stdout =
        unsafe { std::os::fd::BorrowedFd::borrow_raw(nix::libc::STDOUT_FILENO) };
    nix::unistd::isatty(stdout).unwrap_or(false)
}

/// `getenv(3)` takes no lock in glibc; `std::env::var_os` takes the environment's.
#[cfg(unix)]
fn no_color_is_unset() -> bool {
    // SAFETY: a static, NUL-terminated name; the value is only tested, not kept.
    let value = unsafe { nix::libc::getenv(c"NO_COLOR".as_ptr()) };
    // SAFETY: getenv returns NULL or a NUL-terminated string.
    value.is_null() || unsafe { *value } == 0
}

#[cfg(not(unix))]
fn stdout_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout())
}

#[cfg(not(unix))]
fn no_color_is_unset() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

const BOLD: &str = "\x1b[1m";
const BOLD_GREEN: &str = "\x1b[1;32m";
const RESET: &str = "\x1b[0m";

/// Prints one line to standard output, prefixed with the process name and its clock.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::say(format_args!($($arg)*))
    };
}

/// Prints one line, in a single `write(2)`, so that lines of different processes sharing
/// standard output never interleave within a line. It takes no lock, not even the one
/// `println!` takes: a forked worker may have inherited that one held (see "Fork and
/// threads"). Use it through [`say!`](crate::say!).
pub fn say(message: fmt::Arguments<'_>) {
    let seconds = seconds();
    let line = format_line(&current_process_name(), seconds, colour_enabled(), message);
    // A closed standard output is no reason for a worker to die.
    let _ = forkspawn::__private::write_stdout(line.as_bytes());
}

/// The main process's name is bold and on the left, workers' on the right, as in the
/// article's transcripts.
fn format_line(
    process: &str,
    seconds: f64,
    colour: bool,
    message: fmt::Arguments<'_>,
) -> String {
    let (bold, green, reset) = if colour {
        (BOLD, BOLD_GREEN, RESET)
    } else {
        ("", "", "")
    };
    if process == "MainProcess" {
        format!(
            "{bold}{process:<16}{reset} [{green}{seconds:>5.2}s{reset}] {message}\n"
        )
    } else {
        format!("{process:>16} [{green}{seconds:>5.2}s{reset}] {message}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_process_is_left_aligned_and_workers_right_aligned() {
        assert_eq!(
            format_line("MainProcess", 0.0, false, format_args!("hi")),
            "MainProcess      [ 0.00s] hi\n"
        );
        assert_eq!(
            format_line("ForkProcess-1", 1.006, false, format_args!("hi")),
            "   ForkProcess-1 [ 1.01s] hi\n"
        );
    }

    #[test]
    fn colour_marks_the_main_name_bold_and_the_clock_green() {
        let line = format_line("MainProcess", 2.0, true, format_args!("x"));
        assert_eq!(
            line,
            "\x1b[1mMainProcess     \x1b[0m [\x1b[1;32m 2.00s\x1b[0m] x\n"
        );
    }
}
