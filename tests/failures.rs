//! Failures under every start method: a worker that dies, a bad command line, and a
//! parent that is killed. Each case runs a chapter's program with a time limit: a hung
//! child fails the test.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use forkspawn::StartMethod;
use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

const LIMIT: Duration = Duration::from_secs(30);

/// Runs a chapter's program as a reader who has not set `RUST_BACKTRACE` (or set it to 0):
/// these tests check the one-line reports; the test below checks the other case.
fn run(example: &str, args: &[&str]) -> common::Outcome {
    let program = common::example_path(example, false).unwrap();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env = [("RUST_BACKTRACE", "0")];
    common::run_with_env(&program, &args, &env, LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run`] with each of these argument lists at once: the runs of the worker-failure
/// program mostly wait (a task of 1.5 s, or a 3 s time limit), not on a core.
fn run_side_by_side<const N: usize>(
    example: &str,
    runs: [&[&str]; N],
) -> [common::Outcome; N] {
    thread::scope(|scope| {
        runs.map(|args| scope.spawn(move || run(example, args)))
            .map(|run| {
                run.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
    })
}

/// The worker-failure program with `flag`, under each start method, side by side.
fn with_each_method(
    flag: &str,
) -> impl Iterator<Item = (&'static str, common::Outcome)> {
    let methods = ["fork", "spawn", "forkserver"];
    let runs = methods.map(|method| [method, flag]);
    let outcomes =
        run_side_by_side("worker_failure", runs.each_ref().map(|run| &run[..]));
    methods.into_iter().zip(outcomes)
}

/// The lines that start with `error:`; there must be exactly one from the parent.
fn error_lines(output: &str) -> Vec<&str> {
    output.lines().filter(|l| l.starts_with("error:")).collect()
}

fn assert_no_backtrace(output: &str) {
    for marker in ["panicked at", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!output.contains(marker), "`{marker}` in:\n{output}");
    }
}

#[test]
fn a_failing_worker_is_named_with_its_cause_and_every_worker_is_reaped() {
    let cases = [
        (
            "panic",
            "panicked on the 3rd input of square: cannot square 3",
        ),
        ("exit", "exited with code 3 on the 3rd input of square"),
        ("signal", "was killed by SIGKILL on the 3rd input of square"),
    ];
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        for (failure, cause) in cases {
            let outcome = run("worker_failure", &[method.as_str(), "--fail", failure]);
            let context = format!("{method} --fail {failure}:\n{}", outcome.output);
            assert_eq!(outcome.status.code(), Some(1), "{context}");
            let expected = format!("error: worker {}-1 {cause}", method.process_kind());
            let errors = error_lines(&outcome.output);
            assert_eq!(errors.len(), 1, "{context}");
            assert!(errors[0].starts_with(&expected), "{context}");
            // The failure is input 3's alone, and the pool goes on.
            let squares = "squares: [1, 4, failed, 16]";
            assert!(outcome.output.contains(squares), "{context}");
            let again = "the same pool, again: [25, 36]";
            assert!(outcome.output.contains(again), "{context}");
            assert!(
                outcome.output.contains("child processes left: none"),
                "{context}"
            );
            assert_no_backtrace(&outcome.output);
        }
    }
}

#[test]
fn a_failing_initializer_stops_the_pool_before_any_task() {
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        let outcome = run(
            "worker_failure",
            &[method.as_str(), "--fail", "initializer"],
        );
        assert_eq!(outcome.status.code(), Some(1), "{}", outcome.output);
        let expected = format!(
            "error: the initializer failed in worker {}-1: no database at db.sqlite",
            method.process_kind()
        );
        assert_eq!(error_lines(&outcome.output), [expected.as_str()]);
        assert!(!outcome.output.contains(": started"), "{}", outcome.output);
        assert!(outcome.output.contains("child processes left: none"));
    }
}

#[test]
fn a_worker_or_fork_server_slow_to_start_times_out_in_one_line_and_is_killed() {
    let [spawn, forkserver, fork] = run_side_by_side(
        "worker_failure",
        [
            &["spawn", "--fail", "slow-start"],
            &["forkserver", "--fail", "slow-start"],
            &["fork", "--fail", "slow-start"],
        ],
    );
    for (method, worker, outcome) in [
        (StartMethod::Spawn, "SpawnProcess-", spawn),
        (StartMethod::Forkserver, "ForkServerProcess-", forkserver),
    ] {
        let context = format!("{method}:\n{}", outcome.output);
        assert_eq!(outcome.status.code(), Some(1), "{context}");
        let errors = error_lines(&outcome.output);
        assert_eq!(errors.len(), 1, "{context}");
        assert!(
            errors[0].starts_with(&format!("error: worker {worker}")),
            "{context}"
        );
        assert!(
            errors[0].ends_with("timed out after 3s while starting"),
            "{context}"
        );
        assert!(
            outcome.output.contains("child processes left: none"),
            "{context}"
        );
    }
    // A forked worker never runs `main`: it is not slowed down at all.
    assert!(fork.status.success(), "{}", fork.output);
    assert!(
        fork.output.contains("squares: [1, 4, 9, 16]"),
        "{}",
        fork.output
    );
}

#[test]
fn without_init_a_spawned_worker_or_fork_server_refuses_to_start_a_pool_and_fork_does_not_care()
 {
    let outcome = run("worker_failure", &["spawn", "--fail", "forget-init"]);
    assert_eq!(outcome.status.code(), Some(1), "{}", outcome.output);
    let errors = error_lines(&outcome.output);
    // Both workers fail alike; whichever the pool hears of first is reported.
    let reported = ["SpawnProcess-1", "SpawnProcess-2"]
        .map(|w| format!("error: worker {w} exited with code 1 while starting"));
    assert!(
        errors
            .iter()
            .any(|e| reported.iter().any(|r| e.starts_with(r.as_str()))),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("did not call forkspawn::init()"))
    );
    assert_no_backtrace(&outcome.output);

    // The fork server runs `main` up to `init()` as a spawned worker does: it refuses
    // alike, and the pool says the server is gone.
    let outcome = run("worker_failure", &["forkserver", "--fail", "forget-init"]);
    assert_eq!(outcome.status.code(), Some(1), "{}", outcome.output);
    let errors = error_lines(&outcome.output);
    assert!(
        errors.iter().any(|e| e.starts_with(
            "error: cannot start ForkServerProcess-1: the fork server (pid "
        ) && e.ends_with(") exited with code 1")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|l| l.contains("did not call forkspawn::init()"))
    );

    let outcome = run("worker_failure", &["fork", "--fail", "forget-init"]);
    assert!(outcome.status.success(), "{}", outcome.output);
    assert!(outcome.output.contains("squares: [1, 4, 9, 16]"));
}

#[test]
fn bad_command_lines_get_one_line_and_status_2() {
    let cases: [(&str, &[&str]); 5] = [
        ("module_scope", &["frok"]),
        ("module_scope", &[]),
        ("module_scope", &["fork", "--unknown"]),
        ("worker_failure", &["spawn", "--workers", "many"]),
        ("worker_failure", &["fork", "--workers", "0"]),
    ];
    for (example, args) in cases {
        let outcome = run(example, args);
        let context = format!("{example} {args:?}:\n{}", outcome.output);
        assert_eq!(outcome.status.code(), Some(2), "{context}");
        assert_eq!(error_lines(&outcome.output).len(), 1, "{context}");
        let stderr_like: Vec<&str> = outcome
            .output
            .lines()
            .filter(|l| !l.starts_with("MainProcess"))
            .collect();
        assert_eq!(
            stderr_like.len(),
            1,
            "only the error line besides the program's: {context}"
        );
        assert_no_backtrace(&outcome.output);
    }
    let outcome = run("module_scope", &["--help"]);
    assert!(outcome.status.success());
    assert!(outcome.output.contains("How the two workers start"));
}

#[test]
fn rust_backtrace_brings_back_the_workers_own_panic_report() {
    let program = common::example_path("worker_failure", false).unwrap();
    let args = ["fork", "--fail", "panic"].map(String::from);
    let outcome =
        common::run_with_env(&program, &args, &[("RUST_BACKTRACE", "1")], LIMIT)
            .unwrap_or_else(|e| panic!("{e}"));
    let output = outcome.output;
    assert!(
        output.contains("panicked at examples/worker_failure.rs"),
        "{output}"
    );
    assert!(output.contains("stack backtrace"), "{output}");
    assert_eq!(error_lines(&output).len(), 1, "{output}");
}

/// Workers must not outlive a parent that is killed outright: each leaves when its channel
/// closes. Here the parent is killed when the first worker is idle, waiting for a request,
/// and the second still busy with input 2 (1.5 s): both ways a worker can be orphaned.
#[test]
fn workers_leave_when_the_parent_is_killed() {
    for method in ["fork", "spawn", "forkserver"] {
        kill_the_parent_and_count_what_is_left(
            "worker_failure",
            &[method],
            "input 1: done",
            1,
        );
    }
}

/// Between two pools, the fork server waits for the next one; killed then, the parent
/// takes it along.
#[test]
fn a_fork_server_between_pools_leaves_when_the_parent_is_killed() {
    kill_the_parent_and_count_what_is_left(
        "worker_failure",
        &["forkserver", "--linger"],
        "between pools",
        1,
    );
}

/// A program that ends with its fork server still running (it never calls `stop()`)
/// reaps the server itself as it exits. An orphan is handed to its new parent before
/// the old one can be reaped: this test, made the reaper, would have it by then.
#[test]
fn a_program_that_exits_reaps_its_fork_server() {
    prctl::set_child_subreaper(true).unwrap();
    let program = common::example_path("module_scope", false).unwrap();
    let mut child = Command::new(program)
        .arg("forkserver")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Pid::from_raw(child.id() as i32);
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(child.wait());
    });
    let status = receiver.recv_timeout(LIMIT).unwrap_or_else(|_| {
        let _ = killpg(group, Signal::SIGKILL);
        panic!("module_scope forkserver did not exit within {LIMIT:?}")
    });
    assert!(status.unwrap().success());
    let orphans = waitpid(
        Pid::from_raw(-group.as_raw()),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
    assert_eq!(orphans, Err(Errno::ECHILD), "the fork server was orphaned");
}

/// A fork server whose `main` started a thread before `init()` is the process that forks
/// with threads: its warning and a refusal say so, and point at the cure.
#[test]
fn a_fork_server_with_threads_warns_or_refuses_in_its_own_words() {
    let warned = run(
        "fork_threads",
        &["forkserver", "--lock", "none", "--early-thread"],
    );
    assert!(warned.status.success(), "{}", warned.output);
    let warning = "warning: the fork server has 2 threads; a worker may deadlock (start threads after init())";
    assert_eq!(
        warned.output.matches(warning).count(),
        1,
        "{}",
        warned.output
    );
    let args = ["forkserver", "--lock", "none", "--early-thread", "--refuse"];
    let refused = run("fork_threads", &args);
    assert_eq!(refused.status.code(), Some(1), "{}", refused.output);
    assert_eq!(
        error_lines(&refused.output),
        [
            "error: refusing to fork: the fork server has 2 threads (start threads after init())"
        ]
    );
}

/// A spawned worker or a fork server runs `main` before `init()`; one that is slow there
/// must not outlive its parent either: the parent-death signal is set before `main`.
#[test]
fn a_worker_or_fork_server_still_before_init_dies_with_its_parent() {
    for (method, count) in [("spawn", 2), ("forkserver", 1)] {
        let args = [method, "--fail", "slow-start"];
        kill_the_parent_and_count_what_is_left(
            "worker_failure",
            &args,
            "slow start",
            count,
        );
    }
}

/// A forked worker that is deadlocked on a lock never reads its channel again, so it
/// cannot notice that the parent is gone: the kernel must end it (a parent-death signal).
#[test]
fn a_deadlocked_worker_dies_with_its_parent() {
    let args = ["fork", "--lock", "mutex", "--timeout", "600"];
    kill_the_parent_and_count_what_is_left("fork_threads", &args, "needs the lock", 2);
}

/// Runs a chapter's program, kills it with SIGKILL once `marker` has been printed `count`
/// times, and checks that no process of its group is left. This test process becomes the
/// orphans' reaper, so it can wait for every one of them; every wait has a deadline.
fn kill_the_parent_and_count_what_is_left(
    example: &str,
    args: &[&str],
    marker: &str,
    count: usize,
) {
    prctl::set_child_subreaper(true).unwrap();
    let program = common::example_path(example, false).unwrap();
    let mut parent = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Pid::from_raw(parent.id() as i32);
    let kill_group = || {
        let _ = killpg(group, Signal::SIGKILL);
    };
    let context = format!("{example} {}", args.join(" "));

    // Every line the program and its workers print, then `None` once all of them have
    // closed standard output, then once every orphan of the group has been reaped.
    let output = BufReader::new(parent.stdout.take().unwrap());
    let (lines, received) = mpsc::channel();
    thread::spawn(move || {
        for line in output.lines().map_while(Result::ok) {
            let _ = lines.send(Some(line));
        }
        while waitpid(Pid::from_raw(-group.as_raw()), None).is_ok() {}
        let _ = lines.send(None);
    });
    let next_line = || {
        received.recv_timeout(LIMIT).unwrap_or_else(|_| {
            kill_group();
            panic!("{context}: nothing happened for {LIMIT:?}")
        })
    };

    let mut seen = 0;
    while seen < count {
        match next_line() {
            Some(line) if line.contains(marker) => seen += 1,
            Some(_) => continue,
            None => panic!("{context}: the program ended before `{marker}`"),
        }
    }
    parent.kill().unwrap();
    let killed = std::time::Instant::now();
    // The reaping thread may be first to collect it.
    let _ = parent.wait();
    while let Some(line) = next_line() {
        assert!(
            !line.contains("squares") && !line.contains("results"),
            "{context}: the parent was dead: {line}"
        );
    }
    assert_eq!(
        killpg(group, None),
        Err(Errno::ESRCH),
        "{context}: a process of the group is left"
    );
    // The kernel kills them with the parent: nobody waits for a task (1.5 s), a slow
    // start (10 s) or a timeout to end.
    let gone_after = killed.elapsed();
    assert!(
        gone_after < Duration::from_secs(1),
        "{context}: {gone_after:?}"
    );
}

/// Piped into `head`, a program's standard output closes after the first line. The
/// program and its workers must end as they would otherwise, with no panic.
#[test]
fn every_program_piped_into_head_ends_well() {
    let cases: [(&str, &[&str]); 7] = [
        ("worker_logger", &["spawn"]),
        ("forkserver", &[]),
        ("fork_threads", &["forkserver"]),
        ("fork_threads", &["spawn", "--lock", "stdout"]),
        ("signals", &["spawn"]),
        ("secrets", &["fork"]),
        ("platform", &["forkserver"]),
    ];
    for (example, args) in cases {
        let program = common::example_path(example, false).unwrap();
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let group = Pid::from_raw(child.id() as i32);
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here: the pipe's read end is closed, as `head -1` does.
        let mut stderr = child.stderr.take().unwrap();
        let (done, finished) = mpsc::channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            let _ = done.send((child.wait(), text));
        });
        let Ok((status, stderr)) = finished.recv_timeout(LIMIT) else {
            let _ = killpg(group, Signal::SIGKILL);
            panic!("{example} {args:?}: still running after {LIMIT:?}");
        };
        let context = format!("{example} {args:?}: {status:?}\n{stderr}");
        assert!(status.unwrap().success(), "{context}");
        assert_no_backtrace(&stderr);
        assert!(!stderr.contains("panicked"), "{context}");
    }
}

/// A size the machine cannot hold is refused in one line, before anything is written.
#[test]
fn a_parent_size_the_machine_cannot_hold_is_one_line() {
    for example in ["memory", "copy_on_write"] {
        let outcome = run(example, &["fork", "--parent-mib", "65535"]);
        let context = format!("{example}:\n{}", outcome.output);
        assert_eq!(outcome.status.code(), Some(1), "{context}");
        let errors = error_lines(&outcome.output);
        assert_eq!(errors.len(), 1, "{context}");
        assert!(
            errors[0].starts_with("error: cannot hold 65535 MiB: "),
            "{context}"
        );
        assert_no_backtrace(&outcome.output);
    }
}

/// A parent size that fits, with a worker that will copy all of it, which does not: refused
/// in one line before anything is written, rather than killed for want of memory.
#[test]
fn a_copy_the_machine_cannot_hold_is_one_line() {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let available_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap();
    // Two thirds of what is available: the parent's data fits, it and its copy do not.
    let parent_mib = available_kib / 1024 * 2 / 3;
    if parent_mib > u64::from(u16::MAX) {
        eprintln!("this machine holds any size the program takes: nothing to refuse");
        return;
    }
    let parent = parent_mib.to_string();
    let args = ["fork", "--parent-mib", &parent, "--write-percent", "100"];
    let outcome = run("copy_on_write", &args);
    assert_eq!(outcome.status.code(), Some(1), "{}", outcome.output);
    let expected =
        format!("error: cannot hold {parent} MiB and a worker's copy of 100%: ");
    assert_eq!(error_lines(&outcome.output).len(), 1, "{}", outcome.output);
    assert!(outcome.output.starts_with(&expected), "{}", outcome.output);
}

/// A parent that ignores SIGCHLD has its children reaped by the kernel: the pool still
/// works and shuts down cleanly, and a failure says that how the worker ended is lost.
#[test]
fn a_parent_that_ignores_sigchld_still_runs_and_shuts_down() {
    for (method, outcome) in with_each_method("--ignore-sigchld") {
        let context = format!("{method}:\n{}", outcome.output);
        assert!(outcome.status.success(), "{context}");
        assert!(
            outcome.output.contains("squares: [1, 4, 9, 16]"),
            "{context}"
        );
        assert!(error_lines(&outcome.output).is_empty(), "{context}");
    }
    let outcome = run(
        "worker_failure",
        &["fork", "--ignore-sigchld", "--fail", "exit"],
    );
    let errors = error_lines(&outcome.output);
    assert_eq!(
        errors,
        [
            "error: worker ForkProcess-1 ended (how is unknown: this program ignores SIGCHLD) \
          on the 3rd input of square"
        ],
        "{}",
        outcome.output
    );
}

/// Code before `init()` may read standard input: a spawned worker's is the parent's, not
/// its channel. Before, the worker read the pool's first request there, and both hung.
#[test]
fn code_before_init_may_read_standard_input() {
    for (method, outcome) in with_each_method("--read-stdin") {
        let context = format!("{method}:\n{}", outcome.output);
        assert!(outcome.status.success(), "{context}");
        assert!(
            outcome.output.contains("squares: [1, 4, 9, 16]"),
            "{context}"
        );
        assert!(
            outcome.output.contains("read 0 bytes of standard input"),
            "{context}"
        );
    }
}

/// A one-line error written to a standard error that nobody reads any more (`2>&1 |
/// head -1`, once `head` has left) is lost, but the exit code stays. Before,
/// `eprintln!` panicked there and the program exited with 101.
#[test]
fn an_error_on_a_closed_standard_error_keeps_its_exit_code() {
    let cases: [(&str, &[&str], i32); 3] = [
        ("worker_failure", &["frok"], 2),
        ("worker_failure", &["spawn", "--fail", "panic"], 1),
        ("module_scope", &["fork", "--unknown"], 2),
    ];
    // Side by side: the run that fails a worker waits for its sibling's task.
    thread::scope(|scope| {
        for (example, args, code) in cases {
            scope.spawn(move || exits_with_a_closed_stderr(example, args, code));
        }
    });
}

fn exits_with_a_closed_stderr(example: &str, args: &[&str], code: i32) {
    let program = common::example_path(example, false).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Pid::from_raw(child.id() as i32);
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait());
    });
    let Ok(status) = finished.recv_timeout(LIMIT) else {
        let _ = killpg(group, Signal::SIGKILL);
        panic!("{example} {args:?}: still running after {LIMIT:?}");
    };
    assert_eq!(status.unwrap().code(), Some(code), "{example} {args:?}");
    assert_eq!(
        killpg(group, None),
        Err(Errno::ESRCH),
        "{example} {args:?}: left a process"
    );
}
