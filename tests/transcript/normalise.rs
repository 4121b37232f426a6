//! Comparing a transcript in the book with a fresh run of the same command.
//!
//! Some values change from run to run; what they *say* must not. Both sides are
//! normalised the same way before they are compared:
//!
//! - **Processes.** A line that starts with a process name (`MainProcess`,
//!   `ForkProcess-1`, …) belongs to that process. Lines of one process must come in the
//!   same order on both sides; lines of different processes may interleave differently,
//!   as they do from run to run.
//! - **Addresses, pids and inodes** (`0x7ffd…`, `pid 4242`, `pipe:[8812]`) are renamed
//!   `<addr 1>`, `<pid 1>`, `<inode 1>`… in order of first appearance, process by
//!   process. Equal stays equal and different stays different: a run that gives two
//!   processes the same address where the book shows two different ones fails, and so
//!   does the opposite.
//! - **Elapsed times** (`[ 1.00s]`) are compared by how they move, line after line of one
//!   process: a fresh run may run later than the book (work is slower on a busy machine,
//!   and the lag adds up), but no step from one line to the next may be longer or
//!   shorter than the book's by more than [`SECONDS_TOLERANCE`]. A sleep of 1 s made 2 s
//!   is caught at its step; a machine that is slow all along is not a failure.
//! - **Sleeps** are what a step of [`SLEEP_STEP`] or more in the book is: no work between
//!   two lines takes that long. Load stretches a sleep little (by at most 0.13 s, in all
//!   of a process's sleeps together, in runs with both cores busy), so the sleeps of one
//!   process may drift from the book's by [`SECONDS_TOLERANCE`] in all, not at each step:
//!   three 1 s sleeps made 1.45 s each are caught.
//! - **Measurements** — a number with a unit of size, duration or count (`256.0 MiB`,
//!   `412 µs`, `16391 faults`, a ratio `2.53×`) — match any number with the same unit: their digits vary
//!   from run to run. What a measurement shows must be said in words on the line, which
//!   the program derives from the numbers and the check compares exactly.
//!   A size written as an adjective (`a 32-MiB parent`) is a setting, not a measurement:
//!   the pattern does not match it, and it is compared exactly.
//! - **CPython's version** (`CPython 3.12.1`) is whichever the reader has: a block that
//!   runs `python3` shows words that hold on every version, and one whose words belong to
//!   one version names it (`python3.12`), which the checker finds before it runs.
//! - **Spacing** inside a line does not count: right-aligned columns move as the digits
//!   change.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use regex_lite::Regex;

/// How much one step between two lines of a process may differ from the book's. The
/// book's programs sleep whole seconds, so this is loose enough for the work between two
/// lines on a busy machine and tight enough to tell a 1 s sleep from a 2 s one.
pub const SECONDS_TOLERANCE: f64 = 0.5;

/// A step of the book this long or longer is a sleep: the book's programs sleep whole
/// seconds, or 1.5 s, and no step of work in the book takes 0.2 s.
pub const SLEEP_STEP: f64 = 0.5;

/// How strictly steps of work are timed. A step of work (shorter than [`SLEEP_STEP`] in
/// the book) says only that nothing waited there: on a machine busy with other work it
/// may take any time, and only the sleeps still say something about time.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Clocks {
    /// Every step within [`SECONDS_TOLERANCE`] of the book's.
    Strict,
    /// Sleeps as strictly; steps of work may be longer than the book's by any amount.
    WorkMayStretch,
}

/// Where a process's run stands against the book, from line to line.
#[derive(Default)]
struct Clock {
    /// How far the run is behind the book (ahead, if negative).
    lag: f64,
    /// The book's time at the process's previous line that had one.
    book_before: Option<f64>,
    /// How much the sleeps so far took longer (or shorter) than the book's.
    sleep_drift: f64,
}

/// A value that varies from run to run, renamed by its relations to the others.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Kind {
    Address,
    Pid,
    Inode,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Address => "addr",
            Kind::Pid => "pid",
            Kind::Inode => "inode",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Renamed(Kind, usize),
    Seconds(f64),
    /// A number whose digits do not count, with its unit, which does.
    Measure(String),
}

/// One line, cut into fixed text and volatile values.
#[derive(Clone, Debug)]
struct Line {
    pieces: Vec<Piece>,
}

impl Line {
    fn render(&self) -> String {
        let mut text = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => text.push_str(t),
                Piece::Renamed(kind, n) => {
                    let _ = write!(text, "<{} {n}>", kind.label());
                }
                Piece::Seconds(s) => {
                    let _ = write!(text, "{s:.2}");
                }
                Piece::Measure(unit) => {
                    let _ = write!(text, "<n {unit}>");
                }
            }
        }
        text
    }

    /// Where both lines have an elapsed time at the same place, and the step to it is
    /// the book's within [`SECONDS_TOLERANCE`] (and, for a sleep, the process's sleeps
    /// together too), takes `expected`'s, so that only real differences remain.
    fn align_seconds(&mut self, expected: &Line, clock: &mut Clock, clocks: Clocks) {
        if self.pieces.len() != expected.pieces.len() {
            return;
        }
        for (mine, theirs) in self.pieces.iter_mut().zip(&expected.pieces) {
            let (Piece::Seconds(a), Piece::Seconds(b)) = (&mut *mine, theirs) else {
                continue;
            };
            let drift = *a - *b - clock.lag;
            let sleep = clock
                .book_before
                .is_some_and(|before| *b - before >= SLEEP_STEP);
            let sleep_drift = clock.sleep_drift + if sleep { drift } else { 0.0 };
            clock.book_before = Some(*b);
            let stretched_work =
                clocks == Clocks::WorkMayStretch && !sleep && drift > 0.0;
            if (drift.abs() <= SECONDS_TOLERANCE || stretched_work)
                && sleep_drift.abs() <= SECONDS_TOLERANCE
            {
                clock.lag = *a - *b;
                clock.sleep_drift = sleep_drift;
                *a = *b;
            }
        }
    }
}

/// Lines grouped by process, processes in a fixed order (by name), lines in their
/// order.
struct Normalised {
    processes: BTreeMap<String, Vec<Line>>,
}

// ANCHOR: patterns
/// A process name at the start of a line.
const PROCESS: &str =
    r"^\s*(MainProcess|ForkServer|[A-Z][A-Za-z]*Process-\d+(?::\d+)*)\b";

/// The values that vary from run to run, one named group each.
const VOLATILE: &str = concat!(
    r"(?P<addr>\b0x[0-9a-fA-F]+\b)",
    r"|\bCPython (?P<python>3\.\d+\.\d+[a-z0-9+]*)",
    r"|\bpid(?P<pid_sep>[ =:]+)(?P<pid>\d+)\b",
    r"|(?P<inode_kind>pipe|socket):\[(?P<inode>\d+)\]",
    r"|(?P<secs>\b\d+\.\d+)s\b",
    r"|\b\d+(?:\.\d+)? ?(?:(?P<unit>B|KiB|MiB|GiB|kB|ns|µs|ms|faults?)\b|(?P<ratio>×))",
);
// ANCHOR_END: patterns

fn patterns() -> &'static (Regex, Regex) {
    static PATTERNS: std::sync::OnceLock<(Regex, Regex)> = std::sync::OnceLock::new();
    PATTERNS
        .get_or_init(|| (Regex::new(PROCESS).unwrap(), Regex::new(VOLATILE).unwrap()))
}

/// Renames values in order of first appearance, one numbering per kind.
#[derive(Default)]
struct Renamer {
    names: HashMap<(Kind, String), usize>,
    counts: HashMap<Kind, usize>,
}

impl Renamer {
    fn rename(&mut self, kind: Kind, value: &str) -> Piece {
        let next = self.counts.entry(kind).or_insert(0);
        let number = *self
            .names
            .entry((kind, value.to_owned()))
            .or_insert_with(|| {
                *next += 1;
                *next
            });
        Piece::Renamed(kind, number)
    }
}

fn normalise(transcript: &str) -> Normalised {
    let (process_pattern, volatile) = patterns();
    let mut raw: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for line in transcript.lines() {
        let process = process_pattern
            .captures(line)
            .map(|c| c[1].to_owned())
            .unwrap_or_default();
        raw.entry(process).or_default().push(line);
    }
    let mut renamer = Renamer::default();
    let mut processes = BTreeMap::new();
    for (process, lines) in raw {
        let lines = lines
            .into_iter()
            .map(|line| cut(line, volatile, &mut renamer))
            .collect();
        processes.insert(process, lines);
    }
    Normalised { processes }
}

/// Cuts a line into fixed text, with its spacing folded, and volatile values.
fn cut(line: &str, volatile: &Regex, renamer: &mut Renamer) -> Line {
    let mut pieces = Vec::new();
    let text = |pieces: &mut Vec<Piece>, fixed: &str| {
        pieces.push(Piece::Text(fold_spaces(fixed)));
    };
    let mut last = 0;
    for captures in volatile.captures_iter(line) {
        let whole = captures.get(0).unwrap();
        text(&mut pieces, &line[last..whole.start()]);
        if captures.name("python").is_some() {
            pieces.push(Piece::Text("CPython <version>".to_owned()));
        } else if let Some(address) = captures.name("addr") {
            pieces.push(renamer.rename(Kind::Address, address.as_str()));
        } else if let Some(pid) = captures.name("pid") {
            pieces.push(Piece::Text(format!("pid{}", &captures["pid_sep"])));
            pieces.push(renamer.rename(Kind::Pid, pid.as_str()));
        } else if let Some(inode) = captures.name("inode") {
            pieces.push(Piece::Text(format!("{}:[", &captures["inode_kind"])));
            pieces.push(renamer.rename(Kind::Inode, inode.as_str()));
            pieces.push(Piece::Text("]".to_owned()));
        } else if let Some(seconds) = captures.name("secs") {
            pieces.push(Piece::Seconds(seconds.as_str().parse().unwrap_or(f64::NAN)));
            pieces.push(Piece::Text("s".to_owned()));
        } else if captures.name("ratio").is_some() {
            pieces.push(Piece::Measure("×".to_owned()));
        } else if let Some(unit) = captures.name("unit") {
            // "1 fault", "2 faults": one unit.
            let unit = if unit.as_str() == "fault" {
                "faults"
            } else {
                unit.as_str()
            };
            pieces.push(Piece::Measure(unit.to_owned()));
        }
        last = whole.end();
    }
    text(&mut pieces, line[last..].trim_end());
    pieces.retain(|p| *p != Piece::Text(String::new()));
    Line { pieces }
}

/// Turns every run of white space into one space.
fn fold_spaces(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    let mut after_space = false;
    for c in text.chars() {
        if !c.is_whitespace() {
            folded.push(c);
        } else if !after_space {
            folded.push(' ');
        }
        after_space = c.is_whitespace();
    }
    folded
}

/// Compares a transcript from the book with the output of a fresh run.
///
/// Returns `Err` with a unified diff of the two normalised transcripts when they
/// differ.
pub fn compare(expected: &str, actual: &str) -> Result<(), String> {
    compare_with(expected, actual, Clocks::Strict)
}

/// [`compare`], with steps of work timed as `clocks` says.
pub fn compare_with(
    expected: &str,
    actual: &str,
    clocks: Clocks,
) -> Result<(), String> {
    let expected = normalise(expected);
    let mut actual = normalise(actual);
    for (process, lines) in &mut actual.processes {
        if let Some(expected_lines) = expected.processes.get(process) {
            let mut clock = Clock::default();
            for (line, expected_line) in lines.iter_mut().zip(expected_lines) {
                line.align_seconds(expected_line, &mut clock, clocks);
            }
        }
    }
    let expected = render(&expected);
    let actual = render(&actual);
    if expected == actual {
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&expected, &actual);
    Err(format!(
        "{}",
        diff.unified_diff().context_radius(3).header(
            "book (normalised, by process)",
            "fresh run (normalised, by process)"
        )
    ))
}

fn render(normalised: &Normalised) -> String {
    let mut text = String::new();
    for lines in normalised.processes.values() {
        for line in lines {
            text.push_str(&line.render());
            text.push('\n');
        }
    }
    text
}
