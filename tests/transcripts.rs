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
//! copies the files each run wrote into the repository at the same relative paths.
//! Transcripts are never typed by hand.

mod common;
mod transcript;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use transcript::markdown::{self, Block, Command};
use transcript::normalise;

/// The longest a chapter's program may run before it counts as hung.
const TIME_LIMIT: Duration = Duration::from_secs(60);

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
        // cores. The benchmark still takes the machine alone, and Wine runs go one at a time.
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
    // The release-built programs are the benchmarks, the longest runs, which run alone:
    // they go first.
    let mut blocks = blocks;
    blocks.sort_by_key(|block| {
        !matches!(block.command, Command::Example { release: true, .. })
    });
    // A benchmark's verdicts compare timings, which other work on the machine distorts:
    // on a busy machine they are not checked, and the test list says why.
    let has_benchmark = blocks.iter().any(is_benchmark);
    let busy = (has_benchmark && !overwrite).then(busy_machine).flatten();
    // A run of the Windows build needs its target, the mingw linker and Wine; where one is
    // missing the block is listed as ignored, with what to install.
    let runs_windows = |block: &Block| {
        matches!(
            block.command,
            Command::Example {
                target: Some(_),
                ..
            }
        )
    };
    let no_windows = blocks
        .iter()
        .any(runs_windows)
        .then(|| common::missing_for_windows(markdown::WINDOWS_TARGET))
        .flatten();
    let trials = blocks
        .into_iter()
        .map(|block| {
            let rewrites = Arc::clone(&rewrites);
            let mut name = block.name();
            let mut ignored = matches!(block.command, Command::NotRun { .. });
            if let (true, Some(idle)) = (is_benchmark(&block), busy) {
                name.push_str(&format!(
                    " (not run: the machine is busy, {idle:.0}% idle; a benchmark's \
                     verdicts need a quiet one)"
                ));
                ignored = true;
            }
            if let (true, Some(missing)) = (runs_windows(&block), &no_windows) {
                name.push_str(&format!(" (not run: {missing})"));
                ignored = true;
            }
            Trial::test(name, move || check(&block, overwrite.then_some(&rewrites)))
                .with_ignored_flag(ignored)
        })
        .collect();
    let conclusion = libtest_mimic::run(&arguments, trials);
    if overwrite && let Err(error) = write_back(&rewrites.lock().unwrap()) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    conclusion.exit_code()
}

fn is_benchmark(block: &Block) -> bool {
    matches!(block.command, Command::Example { release: true, .. })
}

/// How idle the CPUs were over half a second, in percent, if less than 80 %: other work
/// is running. (This runs before any test, so the work is not the tests'.)
fn busy_machine() -> Option<f64> {
    fn idle_and_total() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let cpu: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal: idle and iowait are idle.
        let idle = cpu.get(3)? + cpu.get(4).copied().unwrap_or(0);
        Some((idle, cpu.iter().take(8).sum()))
    }
    let (idle_before, total_before) = idle_and_total()?;
    std::thread::sleep(Duration::from_millis(500)); // a measurement window, not a wait
    let (idle_after, total_after) = idle_and_total()?;
    let total = total_after.checked_sub(total_before)?.max(1);
    let idle = 100.0 * idle_after.saturating_sub(idle_before) as f64 / total as f64;
    (idle < 80.0).then_some(idle)
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

fn check(block: &Block, rewrites: Option<&SharedRewrites>) -> Result<(), Failed> {
    if rewrites.is_none() {
        let whole = format!("{}\n{}", block.command_line, block.expected);
        fits_the_book(block, &whole, "the transcript")?;
    }
    // A benchmark runs alone: other work would slow its figures (a build of the other
    // programs included, so the lock is taken before building). A run under Wine runs
    // alone among Wine runs, since its runner stops the one Wine server when it ends; the
    // others go on meanwhile.
    let alone = matches!(block.command, Command::Example { release: true, .. });
    let under_wine = matches!(
        block.command,
        Command::Example {
            target: Some(_),
            ..
        }
    );
    static MACHINE: RwLock<()> = RwLock::new(());
    static WINE: Mutex<()> = Mutex::new(());
    let _wine = under_wine.then(|| WINE.lock().unwrap_or_else(PoisonError::into_inner));
    let _alone = alone.then(|| MACHINE.write().unwrap_or_else(PoisonError::into_inner));
    let _shared =
        (!alone).then(|| MACHINE.read().unwrap_or_else(PoisonError::into_inner));
    let (program, args) = match &block.command {
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
        Command::Python { script, args } => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let args = [script.to_string_lossy().into_owned()]
                .into_iter()
                .chain(args.iter().cloned())
                .collect();
            (PathBuf::from("python3"), args)
        }
        Command::NotRun { .. } => return Ok(()),
    };
    let work_dir = common::WorkDir::new()?;
    let env: Vec<(&str, &str)> = block
        .env
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let outcome = common::run_in(&work_dir, &program, &args, &env, TIME_LIMIT)?;
    if outcome.output.contains('\x1b') {
        return Err("the program wrote terminal escape codes into a pipe".into());
    }
    let fresh = outcome.transcript();
    if let Some(rewrites) = rewrites {
        fits_the_book(block, &fresh, "the fresh run")?;
        let mut rewrites = rewrites.lock().unwrap();
        rewrites.transcripts.push((block.clone(), fresh));
        rewrites.files.extend(work_dir.files());
        return Ok(());
    }
    normalise::compare(&block.expected, &fresh).map_err(|diff| {
        format!(
            "{}:{}: the transcript differs from a fresh run of `{}`\n{diff}\n\
             If the change is intended: TRANSCRIPTS=overwrite cargo test --test transcripts",
            block.file.display(),
            block.line,
            block.command_line
        )
        .into()
    })
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
