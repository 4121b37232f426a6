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
