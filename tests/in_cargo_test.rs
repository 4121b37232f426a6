//! Spawn and forkserver pools inside `cargo test`, whose `main` is the test harness's:
//! `test_support!` leads their workers to `init()`. This file runs under the standard
//! harness on purpose; `cargo test --test in_cargo_test` runs it.

mod common;

use std::time::Duration;

use forkspawn::{Pool, StartMethod, ThreadedFork, task};

forkspawn::test_support!();

/// Long enough for a loaded machine to start a worker; short enough that a worker that
/// never reaches `init()` fails the test in seconds, not in the default ten minutes.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Set by the test that runs this binary again: the tasks then say where they ran.
const SAY: &str = "IN_CARGO_TEST_SAY";

/// Where a task ran, and its square.
#[derive(serde::Serialize, serde::Deserialize, Debug)]
struct Ran {
    pid: u32,
    process: String,
    square: u64,
}

fn square_where(x: u64) -> Ran {
    let process = forkspawn::current_process_name();
    if std::env::var_os(SAY).is_some() {
        println!("{process} says {x} squared is {}", x * x);
    }
    Ran {
        pid: std::process::id(),
        process,
        square: x * x,
    }
}

/// Maps `square_where` over 1 to 4 in a pool of two workers, and checks that each input
/// ran in a worker of `method`, not in this process.
fn squares_in_workers(method: StartMethod, policy: ThreadedFork) {
    let mut pool = Pool::builder(method)
        .workers(2)
        .timeout(TIMEOUT)
        .threaded_fork(policy)
        .start()
        .unwrap_or_else(|error| panic!("error: {error}"));
    let ran = pool
        .map(task!(square_where), [1, 2, 3, 4])
        .unwrap_or_else(|error| panic!("error: {error}"));
    pool.shutdown()
        .unwrap_or_else(|error| panic!("error: {error}"));
    let squares: Vec<u64> = ran.iter().map(|ran| ran.square).collect();
    assert_eq!(squares, [1, 4, 9, 16]);
    for ran in &ran {
        assert_ne!(
            ran.pid,
            std::process::id(),
            "{ran:?} ran in the test's process"
        );
        assert!(ran.process.starts_with(method.process_kind()), "{ran:?}");
    }
}

#[test]
fn a_spawn_pool_runs_tasks_in_spawned_workers() {
    squares_in_workers(StartMethod::Spawn, ThreadedFork::Warn);
}

/// The fork server has the harness's main thread besides the test's, which waits and
/// holds nothing: it is not counted, so a pool that refuses to fork with threads running
/// still starts.
#[test]
fn a_forkserver_pool_runs_tasks_in_forked_workers() {
    squares_in_workers(StartMethod::Forkserver, ThreadedFork::Refuse);
}

/// Runs this binary again with one test, as `cargo test <name>` would: the workers find
/// their way to `init()` under a filter too, the harness says "running 1 test" once (the
/// workers' harness is muted until `init()`), and what a task prints reaches the
/// parent's standard output (the workers' harness does not capture it).
#[test]
fn workers_of_a_filtered_run_are_quiet_until_init_and_print_after() {
    let this = std::env::current_exe().unwrap();
    for test in [
        "a_spawn_pool_runs_tasks_in_spawned_workers",
        "a_forkserver_pool_runs_tasks_in_forked_workers",
    ] {
        let args = [test, "--exact", "--nocapture"].map(String::from);
        let outcome = common::run_with_env(&this, &args, &[(SAY, "1")], TIMEOUT * 2)
            .unwrap_or_else(|error| panic!("{error}"));
        let output = &outcome.output;
        assert!(outcome.status.success(), "{test}:\n{output}");
        let running = output.matches("running 1 test").count();
        assert_eq!(
            running, 1,
            "{test}: the harness spoke {running} times:\n{output}"
        );
        let said = output
            .lines()
            .filter(|line| line.contains(" says "))
            .count();
        assert_eq!(said, 4, "{test}: one line per input expected:\n{output}");
    }
}
