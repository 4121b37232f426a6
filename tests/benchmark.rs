//! The benchmark's `--json` output: one object with the rows the performance chapter
//! promises. A reduced run (one size, one run each, no CPython on the PATH) keeps it quick;
//! the figures themselves, and the CPython rows, are the chapter's transcript's business.

mod common;

use std::time::Duration;

#[test]
fn json_has_a_row_per_method_and_size_with_the_promised_fields() {
    let program = common::example_path("start_cost", true).unwrap();
    let args = [
        "--json",
        "--max-mib",
        "0",
        "--runs",
        "1",
        "--min-ms",
        "0",
        "--python-runs",
        "1",
    ]
    .map(String::from);
    let no_python = [("PATH", "/nonexistent")];
    let outcome =
        common::run_with_env(&program, &args, &no_python, Duration::from_secs(120))
            .unwrap();
    assert!(outcome.status.success(), "{}", outcome.output);
    let json: serde_json::Value = serde_json::from_str(&outcome.output).unwrap();
    let rows = json["rows"]
        .as_array()
        .expect("an object with an array `rows`");
    let methods = [
        "fork",
        "spawn",
        "forkserver",
        "raw-fork",
        "raw-posix-spawn",
        "python-fork",
        "python-spawn",
        "python-forkserver",
        "forkserver-own",
        "raw-fork-call",
        "raw-fork-exit-wait",
    ];
    for row in rows {
        assert!(methods.contains(&row["method"].as_str().unwrap()), "{row}");
        for field in ["parent_mib", "workers", "median_us"] {
            assert!(row[field].is_u64(), "{field} in {row}");
        }
    }
    assert!(
        rows.iter()
            .all(|r| !r["method"].as_str().unwrap().starts_with("python-"))
    );
    for method in &methods[..5] {
        let at = |workers: u64| {
            rows.iter().any(|r| {
                r["method"] == *method
                    && r["parent_mib"] == 0
                    && r["workers"] == workers
            })
        };
        assert!(at(1), "{method} with 1 worker at 0 MiB");
        if !method.starts_with("raw-") {
            assert!(
                [2, 4, 8].into_iter().all(at),
                "{method} with 2, 4, 8 workers"
            );
        }
    }
}

/// A machine too slow for the time budget is simulated by a budget of 1 s, which a run
/// passes the half of whatever the load: the later measurements do fewer runs, the
/// output says so in its second line, and every table is still printed.
#[test]
fn past_half_its_budget_the_benchmark_does_fewer_runs_and_says_so() {
    let program = common::example_path("start_cost", true).unwrap();
    let args = ["--max-mib", "64", "--budget-s", "1"].map(String::from);
    let no_python = [("PATH", "/nonexistent")];
    let outcome =
        common::run_with_env(&program, &args, &no_python, Duration::from_secs(120))
            .unwrap();
    assert!(outcome.status.success(), "{}", outcome.output);
    let lines: Vec<&str> = outcome.output.lines().collect();
    assert!(
        lines[1]
            == "the machine was slow: past half of the 1 s budget, fewer runs each",
        "{}",
        outcome.output
    );
    for row in [
        "0 MiB ",
        "64 MiB ",
        "fork pool at 64 MiB ",
        "exit+wait / fork()",
    ] {
        assert!(
            lines.iter().any(|line| line.trim_start().starts_with(row)),
            "no `{row}` in:\n{}",
            outcome.output
        );
    }
}

/// The project's targets are a report of their own: asked for, they follow the words the
/// book compares, each `met` or `missed`; not asked for, none is printed.
#[test]
fn the_targets_are_printed_only_when_asked_for() {
    let program = common::example_path("start_cost", true).unwrap();
    let quick = ["--max-mib", "32", "--runs", "1", "--min-ms", "0"].map(String::from);
    let no_python = [("PATH", "/nonexistent")];
    let with_targets: Vec<String> =
        quick.iter().cloned().chain(["--targets".into()]).collect();
    let limit = Duration::from_secs(120);
    let plain = common::run_with_env(&program, &quick, &no_python, limit).unwrap();
    let targets =
        common::run_with_env(&program, &with_targets, &no_python, limit).unwrap();
    assert!(
        plain.status.success() && targets.status.success(),
        "{}",
        targets.output
    );
    assert!(!plain.output.contains("target"), "{}", plain.output);
    let report: Vec<&str> = targets
        .output
        .lines()
        .skip_while(|line| *line != "the project's targets, on this machine:")
        .skip(1)
        .collect();
    assert!(report.len() >= 4, "{}", targets.output);
    assert!(
        report
            .iter()
            .all(|line| line.ends_with(": met") || line.ends_with(": missed")),
        "{}",
        targets.output
    );
}
