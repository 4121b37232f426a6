//! Every console transcript in the book, run again and compared with what the book
//! shows.
//!
//! Each ```console block of a chapter linked from `src/SUMMARY.md` becomes one test,
//! named after its file, line and command (`cargo test --test transcripts --
//! module-scope` runs one chapter's). What "the same" means is in
//! `transcript/normalise.rs`. Every program runs in an empty working directory of its
//! own, so that files it writes (the benchmark's chart) do not land in the repository.
//!
//! Overwrite mode: `TRANSCRIPTS=overwrite cargo test --test transcripts` writes the
//! output of fresh runs into the blocks instead of comparing, one program at a time, and
//! copies the files each run wrote into the chapter's directory (`src/`) at the same relative
//! paths: the command a reader types writes its file where the reader runs it, and the
//! book's copy lies beside the chapter that shows it.
//! Transcripts are never typed by hand.

mod common;
mod transcript;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use transcript::markdown::{self, Block, Command, Interpreter};
use transcript::normalise::Clocks;
use transcript::{load, machine, normalise};

/// The longest a chapter's program may run before it counts as hung.
const TIME_LIMIT: Duration = Duration::from_secs(60);
/// The longest a benchmark may run: its budget (90 s, of which it uses about a tenth on an idle
/// 2-core machine), and some more.
const BENCHMARK_TIME_LIMIT: Duration = Duration::from_secs(120);

/// What overwrite mode writes back: each block's fresh output, and the files its run wrote
/// into its working directory (the benchmark's chart), with their paths in the repository.
#[derive(Default)]
struct Rewrites {
    transcripts: Vec<(Block, String)>,
    files: Vec<(PathBuf, Vec<u8>)>,
}

type SharedRewrites = Arc<Mutex<Rewrites>>;

fn main() -> ExitCode {
    let mut arguments = Arguments::from_args();
    let overwrite = std::env::var("TRANSCRIPTS").is_ok_and(|mode| mode == "overwrite");
    if overwrite {
        // One program at a time: the clocks the book shows are those of an unloaded machine,
        // and a later check on a busy one stays within the tolerance.
        arguments.test_threads = Some(1);
    } else if arguments.test_threads.is_none() {
        // Most programs spend their time in sleeps, not on a core: six at a time, on two
        // cores. Wine runs go one at a time, and the benchmark runs before all of them.
        arguments.test_threads = Some(6);
    }
    let book_src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let blocks = match book_blocks(&book_src) {
        Ok(blocks) => blocks,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let rewrites: SharedRewrites = Arc::default();
    let mut machine = Machine::default();
    let trials = blocks
        .into_iter()
        .map(|block| {
            let rewrites = Arc::clone(&rewrites);
            let name = block.name();
            if let Some(reason) = machine.why_not_run(&block) {
                let trial =
                    Trial::test(format!("{name} (not run: {reason})"), || Ok(()));
                return trial.with_ignored_flag(true);
            }
            if is_unrecorded(&block) && !overwrite {
                let reason = format!(
                    "no transcript yet: TRANSCRIPTS=overwrite cargo test --test transcripts \
                     -- '{}' records this machine's",
                    block.command_line.trim_start_matches("$ ")
                );
                let trial =
                    Trial::test(format!("{name} (not compared: {reason})"), || Ok(()));
                return trial.with_ignored_flag(true);
            }
            // `--ignored` runs only ignored tests, and `--list` none: a benchmark is run
            // beforehand only where the run would include it.
            let selected = !arguments.list
                && !arguments.ignored
                && !arguments.is_filtered_out(&Trial::test(name.clone(), || Ok(())));
            if is_benchmark(&block) && !overwrite && selected {
                return match check_benchmark(&block) {
                    Benchmark::Checked(result) => Trial::test(name, move || result),
                    Benchmark::Disturbed(reason) => {
                        let trial = Trial::test(
                            format!("{name} (not compared: {reason})"),
                            || Ok(()),
                        );
                        trial.with_ignored_flag(true)
                    }
                };
            }
            Trial::test(name, move || check(&block, overwrite.then_some(&rewrites)))
        })
        .collect();
    let conclusion = libtest_mimic::run(&arguments, trials);
    if overwrite && let Err(error) = write_back(&rewrites.lock().unwrap()) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

/// A Python block with no output under its command: written for a CPython that no machine
/// the book was checked on had (3.14), to be recorded where one is. Until then it is listed
/// as ignored, with the command that records it, rather than compared with nothing.
fn is_unrecorded(block: &Block) -> bool {
    matches!(block.command, Command::Python { .. }) && block.expected.trim().is_empty()
}

/// A benchmark times things: a release build, or a block that needs a quiet machine.
fn is_benchmark(block: &Block) -> bool {
    matches!(block.command, Command::Example { release: true, .. })
        || block.needs.contains(&markdown::Need::QuietMachine)
}

/// What the machine has for the blocks that need more than the book's own build, looked
/// up once each.
#[derive(Default)]
struct Machine {
    windows: Option<Option<String>>,
    pythons: BTreeMap<Interpreter, Result<PathBuf, String>>,
}

impl Machine {
    /// Why `block` cannot run here, if it cannot: what to install.
    fn why_not_run(&mut self, block: &Block) -> Option<String> {
        match &block.command {
            Command::NotRun { reason } => return Some(reason.clone()),
            Command::Example {
                target: Some(target),
                ..
            } => {
                let missing = self
                    .windows
                    .get_or_insert_with(|| common::missing_for_windows(target));
                if let Some(missing) = missing {
                    return Some(missing.clone());
                }
            }
            Command::Python { interpreter, .. } => {
                if let Err(missing) = self.python(*interpreter) {
                    return Some(missing);
                }
            }
            Command::Example { .. } => {}
        }
        block.needs.iter().find_map(|&need| machine::missing(need))
    }

    fn python(&mut self, interpreter: Interpreter) -> Result<PathBuf, String> {
        self.pythons
            .entry(interpreter)
            .or_insert_with(|| machine::find_python(interpreter))
            .clone()
    }
}

/// A benchmark's check, done before the other blocks run: its verdicts compare timings,
/// which other work on the machine distorts, so it runs alone, metered.
enum Benchmark {
    /// It ran on a quiet enough machine, or its words matched anyway: this is the result.
    Checked(Result<(), Failed>),
    /// Twice the words differed while other work disturbed the run: the load decided them,
    /// not the program, so they are not compared.
    Disturbed(String),
}

/// Runs a benchmark, compares, and where it differs on a disturbed machine, runs it once
/// more. A disturbed run whose words match passes: the words hold whatever the load. A
/// quiet run whose words differ fails: the program changed, not the machine.
fn check_benchmark(block: &Block) -> Benchmark {
    let whole = format!("{}\n{}", block.command_line, block.expected);
    if let Err(failure) = fits_the_book(block, &whole, "the transcript") {
        return Benchmark::Checked(Err(failure));
    }
    let mut whys = Vec::new();
    for _ in 0..2 {
        let fresh = match run(block, true) {
            Ok(fresh) => fresh,
            Err(failure) => return Benchmark::Checked(Err(failure)),
        };
        match (
            normalise::compare(&block.expected, &fresh.fresh),
            fresh.disturbance,
        ) {
            (Ok(()), _) => return Benchmark::Checked(Ok(())),
            (Err(diff), None) => {
                let failure = format!(
                    "{}:{}: the benchmark's words differ from a fresh run on a quiet machine \
                     `{}`\n{diff}\nIf the change is intended: TRANSCRIPTS=overwrite cargo test \
                     --test transcripts",
                    block.file.display(),
                    block.line,
                    block.command_line
                );
                return Benchmark::Checked(Err(failure.into()));
            }
            (Err(_), Some(why)) => whys.push(why),
        }
    }
    Benchmark::Disturbed(format!(
        "the machine was busy in both runs ({}), and the words differed",
        whys.join("; ")
    ))
}

fn book_blocks(book_src: &Path) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    for chapter in markdown::chapters(book_src)? {
        blocks.extend(markdown::console_blocks(&chapter)?);
    }
    if blocks.is_empty() {
        return Err("the book has no console transcript at all".to_owned());
    }
    Ok(blocks)
}

/// Refuses a transcript with a line the book would not show whole.
fn fits_the_book(block: &Block, text: &str, whose: &str) -> Result<(), Failed> {
    match markdown::overwide_lines(text, markdown::BOOK_WIDTH).first() {
        None => Ok(()),
        Some(&(line, length)) => Err(format!(
            "{}:{}: {whose} has a line of {length} characters (its line {line}); the book \
             shows {} whole: shorten what the program prints",
            block.file.display(),
            block.line,
            markdown::BOOK_WIDTH
        )
        .into()),
    }
}

/// The program and arguments a block's command runs.
fn command_of(block: &Block) -> Result<(PathBuf, Vec<String>), Failed> {
    Ok(match &block.command {
        Command::Example {
            name,
            args,
            release,
            target: None,
        } => (common::example_path(name, *release)?, args.clone()),
        Command::Example {
            name,
            args,
            target: Some(target),
            ..
        } => {
            let program = common::example_path_for_target(name, target)?;
            // What cargo's `runner` (.cargo/config.toml) does for `cargo run --target`.
            let runner =
                Path::new(env!("CARGO_MANIFEST_DIR")).join(common::WINE_RUNNER);
            let args = [program.to_string_lossy().into_owned()]
                .into_iter()
                .chain(args.iter().cloned())
                .collect();
            (runner, args)
        }
        Command::Python {
            interpreter,
            script,
            args,
        } => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let args = [script.to_string_lossy().into_owned()]
                .into_iter()
                .chain(args.iter().cloned())
                .collect();
            (machine::find_python(*interpreter)?, args)
        }
        Command::NotRun { reason } => return Err(format!("not run: {reason}").into()),
    })
}

/// One run of a block's command: what it printed, the files it wrote, and what disturbed
/// it, if it ran alone.
struct Run {
    fresh: String,
    files: Vec<(PathBuf, Vec<u8>)>,
    disturbance: Option<String>,
}

/// Runs a block's command, `alone` or beside other blocks. A run alone (a benchmark, or a
/// block run again) waits until no other block runs, and is metered; a run under Wine
/// runs alone among Wine runs, since its runner stops the one Wine server when it ends.
fn run(block: &Block, alone: bool) -> Result<Run, Failed> {
    static MACHINE: RwLock<()> = RwLock::new(());
    static WINE: Mutex<()> = Mutex::new(());
    let under_wine = matches!(
        block.command,
        Command::Example {
            target: Some(_),
            ..
        }
    );
    // The lock is taken before building: a build of the other programs is work too.
    let _wine = under_wine.then(|| WINE.lock().unwrap_or_else(PoisonError::into_inner));
    let _alone = alone.then(|| MACHINE.write().unwrap_or_else(PoisonError::into_inner));
    let _shared =
        (!alone).then(|| MACHINE.read().unwrap_or_else(PoisonError::into_inner));
    let (program, args) = command_of(block)?;
    let work_dir = common::WorkDir::new()?;
    let env: Vec<(&str, &str)> = block
        .env
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let meter = alone.then(load::start);
    let limit = if is_benchmark(block) {
        BENCHMARK_TIME_LIMIT
    } else {
        TIME_LIMIT
    };
    let outcome = common::run_in(&work_dir, &program, &args, &env, limit)?;
    let disturbance = meter.and_then(|meter| meter.stop().disturbance());
    if outcome.output.contains('\x1b') {
        return Err("the program wrote terminal escape codes into a pipe".into());
    }
    Ok(Run {
        fresh: outcome.transcript(),
        files: work_dir.files(),
        disturbance,
    })
}

fn check(block: &Block, rewrites: Option<&SharedRewrites>) -> Result<(), Failed> {
    let place = format!("{}:{}", block.file.display(), block.line);
    if let Some(rewrites) = rewrites {
        let fresh = run(block, is_benchmark(block))?;
        fits_the_book(block, &fresh.fresh, "the fresh run")?;
        if let Some(why) = fresh.disturbance {
            return Err(format!(
                "{place}: not rewritten: {why}; the book's figures come from a quiet machine"
            )
            .into());
        }
        let mut rewrites = rewrites.lock().unwrap();
        rewrites.transcripts.push((block.clone(), fresh.fresh));
        let chapter_dir = block.file.parent().unwrap_or(Path::new("."));
        let beside_the_chapter = fresh
            .files
            .into_iter()
            .map(|(relative, bytes)| (chapter_dir.join(relative), bytes));
        rewrites.files.extend(beside_the_chapter);
        return Ok(());
    }
    let whole = format!("{}\n{}", block.command_line, block.expected);
    fits_the_book(block, &whole, "the transcript")?;
    let differs = |diff: String, how: &str| -> Failed {
        format!(
            "{place}: the transcript differs from {how} `{}`\n{diff}\n\
             If the change is intended: TRANSCRIPTS=overwrite cargo test --test transcripts",
            block.command_line
        )
        .into()
    };
    let first = run(block, is_benchmark(block))?;
    let Err(diff) = normalise::compare(&block.expected, &first.fresh) else {
        return Ok(());
    };
    // Where only the time of some step of work differs, the blocks running beside this one
    // may have slowed it: it runs once more, alone. Alone on a quiet machine, every step is
    // timed as strictly as before; where other programs still disturb it, only the sleeps.
    let only_work_was_slower =
        normalise::compare_with(&block.expected, &first.fresh, Clocks::WorkMayStretch)
            .is_ok();
    if is_benchmark(block) || !only_work_was_slower {
        return Err(differs(diff, "a fresh run of"));
    }
    let again = run(block, true)?;
    let clocks = match again.disturbance {
        Some(_) => Clocks::WorkMayStretch,
        None => Clocks::Strict,
    };
    normalise::compare_with(&block.expected, &again.fresh, clocks)
        .map_err(|diff| differs(diff, "a second run, alone, of"))
}

fn write_back(rewrites: &Rewrites) -> Result<(), String> {
    let mut by_file: BTreeMap<&PathBuf, Vec<(&Block, String)>> = BTreeMap::new();
    for (block, output) in &rewrites.transcripts {
        by_file
            .entry(&block.file)
            .or_default()
            .push((block, output.clone()));
    }
    for (file, replacements) in by_file {
        markdown::rewrite(file, &replacements)?;
        eprintln!(
            "rewrote {} transcript(s) in {}",
            replacements.len(),
            file.display()
        );
    }
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (relative, bytes) in &rewrites.files {
        let path = repository.join(relative);
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("rewrote {}, written by a run", path.display());
    }
    Ok(())
}
