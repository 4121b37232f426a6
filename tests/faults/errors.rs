//! What a limit or a misuse hits is said in one line, under every start method: a value
//! too large for a message (refused before it is copied), `init()` called inside a task,
//! a timeout of zero, and the parent's unfinished line, which a fork must not copy.

use std::io::Write;
use std::time::{Duration, Instant};

use forkspawn::{StartMethod, task};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::child;
use crate::common::WorkDir;
use crate::harness::Case;

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for method in crate::METHODS {
        cases.extend([
            Case::new(
                format!("{method}: a 4.4 GB input is refused at once, naming the 4 GiB limit and its input"),
                Duration::from_secs(30),
                move || an_input_beyond_the_frame_limit_is_refused_at_once(method),
            ),
            Case::new(
                format!("{method}: a 4.4 GB result is refused by its worker, naming the 4 GiB limit"),
                Duration::from_secs(30),
                move || a_result_beyond_the_frame_limit_is_refused(method),
            ),
            Case::new(
                format!("{method}: init() called inside a task is one clear line"),
                Duration::from_secs(30),
                move || init_inside_a_task_is_one_clear_line(method),
            ),
            Case::new(
                format!("{method}: timeout(Duration::ZERO) is refused"),
                Duration::from_secs(10),
                move || a_zero_timeout_is_refused(method),
            ),
            Case::new(
                format!("{method}: the parent's unfinished line is printed once when a task exits"),
                Duration::from_secs(40),
                move || the_parent_s_unfinished_line_is_printed_once(method),
            ),
        ]);
    }
    cases
}

/// 4.4 GB of zeros that cost no memory: an anonymous mapping never written, whose pages
/// all read as the one zero page. Serialized as a byte string.
struct Huge;

const HUGE_LENGTH: usize = 4_400_000_000;

impl Serialize for Huge {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use nix::libc;
        // SAFETY: a fresh private mapping, read only, unmapped below.
        let at = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                HUGE_LENGTH,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if at == libc::MAP_FAILED {
            return Err(serde::ser::Error::custom("cannot map 4.4 GB"));
        }
        // SAFETY: the mapping is `HUGE_LENGTH` bytes, readable, and lives until munmap.
        let bytes = unsafe { std::slice::from_raw_parts(at.cast::<u8>(), HUGE_LENGTH) };
        let written = serializer.serialize_bytes(bytes);
        // SAFETY: the mapping made above, no longer borrowed.
        unsafe { libc::munmap(at, HUGE_LENGTH) };
        written
    }
}

impl<'de> Deserialize<'de> for Huge {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Huge, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Huge)
    }
}

fn takes_huge(_: Huge) -> u64 {
    0
}

fn returns_huge(_: u64) -> Huge {
    Huge
}

const FRAME_LIMIT: &str =
    "it takes more than 4 GiB encoded, the most one message can carry";

fn an_input_beyond_the_frame_limit_is_refused_at_once(
    method: StartMethod,
) -> Result<(), String> {
    let mut pool = crate::builder(method).start().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let text = match pool.map(task!(takes_huge), [Huge]) {
        Ok(_) => return Err("the input was sent".to_owned()),
        Err(error) => error.to_string(),
    };
    let took = started.elapsed();
    let expected = format!(
        "cannot encode the input on the 1st input of errors::takes_huge: {FRAME_LIMIT}"
    );
    if text != expected {
        return Err(format!("not the refusal: {text}"));
    }
    // Refused before it was copied: no 4.4 GB went anywhere.
    match took < Duration::from_secs(2) {
        true => Ok(()),
        false => Err(format!("the refusal took {took:?}")),
    }
}

fn a_result_beyond_the_frame_limit_is_refused(
    method: StartMethod,
) -> Result<(), String> {
    let mut pool = crate::builder(method).start().map_err(|e| e.to_string())?;
    let text = match pool.map(task!(returns_huge), [0]) {
        Ok(_) => return Err("the result came".to_owned()),
        Err(error) => error.to_string(),
    };
    let expected = format!(
        "refused a request on the 1st input of errors::returns_huge: \
         cannot encode the result: {FRAME_LIMIT}"
    );
    match text.ends_with(&expected) {
        true => Ok(()),
        false => Err(format!("not the refusal: {text}")),
    }
}

fn calls_init(_: u64) -> u64 {
    forkspawn::init();
    0
}

fn init_inside_a_task_is_one_clear_line(method: StartMethod) -> Result<(), String> {
    let mut pool = crate::builder(method).start().map_err(|e| e.to_string())?;
    let text = match pool.map(task!(calls_init), [0]) {
        Ok(_) => {
            return Err("init() returned in a task, and nothing said so".to_owned());
        }
        Err(error) => error.to_string(),
    };
    let expected = "panicked on the 1st input of errors::calls_init: forkspawn::init() \
                    was called inside a task: call it once, at the top of main";
    match text.ends_with(expected) {
        true => Ok(()),
        false => Err(format!("not the line: {text}")),
    }
}

fn a_zero_timeout_is_refused(method: StartMethod) -> Result<(), String> {
    let refused = match crate::builder(method).timeout(Duration::ZERO).start() {
        Ok(_) => return Err("a pool started with a zero timeout".to_owned()),
        Err(error) => error.to_string(),
    };
    let expected = "refusing the pool's setting timeout(0ns): every wait would fail at \
                    once; give a worker at least 1ms";
    match refused == expected {
        true => Ok(()),
        false => Err(format!("not the refusal: {refused}")),
    }
}

fn prints_a_partial_line_and_exits(_: u64) -> u64 {
    print!("TASK-PARTIAL ");
    std::process::exit(0)
}

/// In the child: an unfinished line on standard output, then a pool whose task prints one
/// of its own and exits, which flushes the worker's copy of the buffer.
pub fn print_a_partial_line_then_fork(method: StartMethod) -> Result<(), String> {
    print!("PARENT-PARTIAL ");
    let mut pool = crate::builder(method).start().map_err(|e| e.to_string())?;
    let outcome = pool.map(task!(prints_a_partial_line_and_exits), [0]);
    println!();
    println!(
        "{}",
        outcome
            .err()
            .map_or("no error".to_owned(), |e| e.to_string())
    );
    let _ = std::io::stdout().flush();
    Ok(())
}

fn the_parent_s_unfinished_line_is_printed_once(
    method: StartMethod,
) -> Result<(), String> {
    let dir = WorkDir::new()?;
    let this = std::env::current_exe().map_err(|e| e.to_string())?;
    let outcome = child::run(&dir, &this, "partial-line", method)?;
    let printed = outcome.output.matches("PARENT-PARTIAL").count();
    let exited = outcome
        .output
        .contains("exited with code 0 on the 1st input");
    match (printed, exited) {
        (1, true) => Ok(()),
        _ => Err(format!("the child printed:\n{}", outcome.transcript())),
    }
}
