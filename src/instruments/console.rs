//! The printer the book's programs use: every line says which process wrote it, and
//! when.
//!
//! ```text
//! MainProcess      [ 0.00s] Start subprocess with 'spawn' method
//!   SpawnProcess-1 [ 1.00s] [FUNC SCOPE] List(0x5633f3e0a0c8) initially : ["Initial value"]
//! ```
//!
//! The clock is a lazily started static: it starts at this process's first line. A
//! forked worker inherits it already running and continues the parent's count; a
//! spawned worker is a new execution of the program and starts its own at 0.00s, as
//! Python's `print_ts` at module scope does in the article.

use std::fmt;
use std::io::{self, IsTerminal};
use std::sync::LazyLock;
use std::time::Instant;

use crate::worker::bootstrap::current_process_name;
use crate::worker::unlocked_io;

// ANCHOR: clock
static CLOCK: LazyLock<Instant> = LazyLock::new(Instant::now);
// ANCHOR_END: clock

/// Colour only on a terminal, and never when `NO_COLOR` is set to anything
/// (no-color.org).
static COLOUR: LazyLock<bool> = LazyLock::new(|| {
    io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
});

/// Whether the book's programs colour what they print: standard output is a terminal and
/// `NO_COLOR` is unset or empty. Decided once, at first use.
pub fn colour_enabled() -> bool {
    *COLOUR
}

const BOLD: &str = "\x1b[1m";
const BOLD_GREEN: &str = "\x1b[1;32m";
const RESET: &str = "\x1b[0m";

/// Prints one line to standard output, prefixed with the process name and its clock.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::instruments::console::say(format_args!($($arg)*))
    };
}

/// Prints one line, in a single `write(2)`, so that lines of different processes sharing
/// standard output never interleave within a line. It takes no lock, not even the one
/// `println!` takes: a forked worker may have inherited that one held (see "Fork and
/// threads"). Use it through [`say!`](crate::say!).
pub fn say(message: fmt::Arguments<'_>) {
    let seconds = CLOCK.elapsed().as_secs_f64();
    let line = format_line(&current_process_name(), seconds, colour_enabled(), message);
    // A closed standard output is no reason for a worker to die.
    let _ = unlocked_io::write_stdout(line.as_bytes());
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
