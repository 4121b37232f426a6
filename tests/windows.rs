//! Spawn on Windows, run under Wine: a worker that fails is reported as on Unix, in one
//! line that names it and the cause, and no process is left behind.
//!
//! Each case runs the Windows build of the worker-failure chapter's program through the
//! Wine runner (`tests/support/wine-run`), with a time limit. The runs go one at a time:
//! the runner stops the Wine server when its program ends. Where this machine cannot
//! build or run the Windows build, every case is listed as ignored, with what to install.

mod common;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};

const TARGET: &str = "x86_64-pc-windows-gnu";

/// Wine starts in about a second here; a run that takes this long has hung.
const LIMIT: Duration = Duration::from_secs(60);

/// `--fail` for the worker-failure program, and the start of the one error line the
/// parent must print.
const CASES: [(&str, &str); 5] = [
    (
        "panic",
        "error: worker SpawnProcess-1 panicked on the 3rd input of square: cannot square 3",
    ),
    (
        "exit",
        "error: worker SpawnProcess-1 exited with code 3 on the 3rd input of square",
    ),
    // Windows has no signals: a process that is killed ends with the code its killer
    // chose, 1 for Task Manager and `taskkill /F`.
    (
        "signal",
        "error: worker SpawnProcess-1 exited with code 1 on the 3rd input of square",
    ),
    (
        "initializer",
        "error: the initializer failed in worker SpawnProcess-1: no database at db.sqlite",
    ),
    ("forget-init", "error: worker SpawnProcess-"),
];

fn main() -> ExitCode {
    let mut arguments = Arguments::from_args();
    arguments.test_threads = Some(1);
    let missing = common::missing_for_windows(TARGET);
    let mut trials = vec![];
    for (failure, expected) in CASES {
        let mut name =
            format!("spawn under Wine: --fail {failure} is reported in one line");
        if let Some(missing) = &missing {
            name.push_str(&format!(" (not run: {missing})"));
        }
        trials.push(
            Trial::test(name, move || reported_in_one_line(failure, expected))
                .with_ignored_flag(missing.is_some()),
        );
    }
    let mut name =
        "spawn under Wine: without a failure, every input is squared".to_owned();
    if let Some(missing) = &missing {
        name.push_str(&format!(" (not run: {missing})"));
    }
    trials.push(
        Trial::test(name, squares_every_input).with_ignored_flag(missing.is_some()),
    );
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// Runs the Windows build of `worker_failure` with `args`, as `cargo run --target` does.
fn run_under_wine(args: &[&str]) -> Result<common::Outcome, Failed> {
    let program = common::example_path_for_target("worker_failure", TARGET)?;
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join(common::WINE_RUNNER);
    let args: Vec<String> = [program.to_string_lossy().into_owned()]
        .into_iter()
        .chain(args.iter().map(|a| a.to_string()))
        .collect();
    // A reader who has not asked for backtraces: the one-line report is what is checked.
    let env = [("RUST_BACKTRACE", "0")];
    Ok(common::run_with_env(&runner, &args, &env, LIMIT)?)
}

fn reported_in_one_line(failure: &str, expected: &str) -> Result<(), Failed> {
    let outcome = run_under_wine(&["spawn", "--fail", failure])?;
    let context = format!("--fail {failure}:\n{}", outcome.output);
    let errors: Vec<&str> = outcome
        .output
        .lines()
        .filter(|line| line.starts_with("error:"))
        .collect();
    // A worker that forgot `init()` says so itself, before the parent's line.
    let parent_error = errors.last().copied().unwrap_or_default();
    if outcome.status.code() != Some(1) || !parent_error.starts_with(expected) {
        return Err(format!("expected exit 1 and `{expected}…`; {context}").into());
    }
    if failure != "forget-init" && errors.len() != 1 {
        return Err(format!("expected one error line; {context}").into());
    }
    for marker in ["panicked at", "stack backtrace"] {
        if outcome.output.contains(marker) {
            return Err(format!("`{marker}` in the output; {context}").into());
        }
    }
    // A task's failure is its input's alone, and the pool goes on.
    let task_failure = ["panic", "exit", "signal"].contains(&failure);
    for kept in [
        "squares: [1, 4, failed, 16]",
        "the same pool, again: [25, 36]",
    ] {
        if task_failure && !outcome.output.contains(kept) {
            return Err(format!("no `{kept}`; {context}").into());
        }
    }
    if !outcome.output.contains("child processes left: none") {
        return Err(format!("a worker was left running; {context}").into());
    }
    Ok(())
}

fn squares_every_input() -> Result<(), Failed> {
    let outcome = run_under_wine(&["spawn"])?;
    let ends = ["squares: [1, 4, 9, 16]", "child processes left: none"];
    if !outcome.status.success() || !ends.iter().all(|end| outcome.output.contains(end))
    {
        return Err(format!("expected {ends:?}:\n{}", outcome.output).into());
    }
    Ok(())
}
