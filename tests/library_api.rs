//! The library as a Rust program uses it, in every start method: a failure is its
//! input's and the pool goes on; a submitted task is waited for with a limit, or killed;
//! a pool moves to another thread; chunks and `max_tasks_per_child`. Standard harness:
//! `test_support!` leads spawned workers to `init()`.

use std::time::{Duration, Instant};

use forkspawn::{Pool, PoolError, StartMethod, task};

forkspawn::test_support!();

/// Every wait in these tests ends within it, on a loaded machine too.
const TIMEOUT: Duration = Duration::from_secs(20);

fn methods() -> Vec<StartMethod> {
    StartMethod::available()
}

fn pool(method: StartMethod, workers: usize) -> Pool {
    let pool = Pool::builder(method)
        .workers(workers)
        .timeout(TIMEOUT)
        .start();
    pool.unwrap_or_else(|error| panic!("{method}: {error}"))
}

fn halve(x: u64) -> u64 {
    assert!(x.is_multiple_of(2), "{x} is odd");
    x / 2
}

fn square(x: u64) -> u64 {
    x * x
}

fn exit_on_three(x: u64) -> u64 {
    if x == 3 {
        std::process::exit(3);
    }
    x
}

fn nap(millis: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(millis));
    millis
}

#[test]
fn a_panic_fails_its_input_only_and_the_pool_maps_again() {
    for method in methods() {
        let mut pool = pool(method, 2);
        let pids = pool.worker_pids();
        let results: Vec<_> = pool.imap(task!(halve), [2, 3, 4, 6]).collect();
        let error = results[1].as_ref().unwrap_err().to_string();
        assert!(
            error.ends_with("panicked on the 2nd input of halve: 3 is odd"),
            "{error}"
        );
        let others: Vec<u64> = [0, 2, 3].map(|i| *results[i].as_ref().unwrap()).into();
        assert_eq!(others, [1, 2, 3], "{method}");
        // The same workers, serving on.
        assert_eq!(pool.map(task!(square), [1, 2, 3]).unwrap(), [1, 4, 9]);
        assert_eq!(pool.worker_pids(), pids, "{method}");
        pool.shutdown().unwrap();
    }
}

#[test]
fn a_dead_worker_fails_its_input_and_is_replaced() {
    for method in methods() {
        let mut pool = pool(method, 2);
        let results: Vec<_> = pool.imap(task!(exit_on_three), 1..=5).collect();
        let error = results[2].as_ref().unwrap_err();
        assert!(matches!(error, PoolError::Died { .. }), "{method}: {error}");
        let others: Vec<u64> =
            [0, 1, 3, 4].map(|i| *results[i].as_ref().unwrap()).into();
        assert_eq!(others, [1, 2, 4, 5], "{method}");
        assert_eq!(pool.map(task!(square), [7]).unwrap(), [49]);
        assert_eq!(pool.worker_pids().len(), 2);
        pool.shutdown().unwrap();
    }
}

#[test]
fn a_submitted_task_is_waited_for_with_a_limit_or_killed() {
    for method in methods() {
        let mut pool = pool(method, 1);
        let handle = pool.submit(task!(nap), 300).unwrap();
        assert!(
            pool.wait(&handle, Duration::from_millis(10)).is_none(),
            "{method}"
        );
        let done = pool.wait(&handle, TIMEOUT).expect("done within the limit");
        assert_eq!(done.unwrap(), 300);
        let again = pool.wait(&handle, TIMEOUT).unwrap().unwrap_err();
        assert!(matches!(again, PoolError::AlreadyTaken), "{again}");

        let long = pool.submit(task!(nap), 60_000).unwrap();
        assert!(pool.wait(&long, Duration::from_millis(50)).is_none());
        let started = Instant::now();
        assert!(pool.kill(&long));
        let killed = pool.wait(&long, TIMEOUT).unwrap().unwrap_err();
        assert!(matches!(killed, PoolError::Killed { .. }), "{killed}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(pool.map(task!(square), [3]).unwrap(), [9]);
        pool.shutdown().unwrap();
    }
}

#[test]
fn a_task_over_its_own_timeout_fails_alone() {
    for method in methods() {
        let mut pool = pool(method, 2);
        let quick = task!(nap).timeout(Duration::from_millis(200));
        let results: Vec<_> = pool.imap(quick, [10, 5_000, 10]).collect();
        let error = results[1].as_ref().unwrap_err();
        assert!(
            matches!(error, PoolError::TimedOut { .. }),
            "{method}: {error}"
        );
        assert_eq!(*results[0].as_ref().unwrap(), 10);
        assert_eq!(*results[2].as_ref().unwrap(), 10);
        pool.shutdown().unwrap();
    }
}

#[test]
fn a_pool_moves_to_another_thread() {
    for method in methods() {
        let mut pool = pool(method, 2);
        assert_eq!(pool.map(task!(square), [2]).unwrap(), [4]);
        let there = std::thread::spawn(move || {
            let squares = pool.map(task!(square), [5, 6]).map_err(|e| e.to_string());
            (squares, pool.shutdown().map_err(|e| e.to_string()))
        });
        let (squares, shut_down) = there.join().unwrap();
        assert_eq!(squares, Ok(vec![25, 36]), "{method}");
        assert_eq!(shut_down, Ok(()), "{method}");
    }
}

#[test]
fn chunks_unordered_results_and_replaced_workers_give_every_result() {
    for method in methods() {
        let mut pool = Pool::builder(method)
            .workers(2)
            .timeout(TIMEOUT)
            .max_tasks_per_child(50)
            .start()
            .unwrap();
        let first = pool.worker_pids();
        let squares = pool.map(task!(square).chunksize(7), 0..1_000).unwrap();
        assert!(
            squares
                .iter()
                .enumerate()
                .all(|(i, &s)| s == (i * i) as u64)
        );
        let mut unordered: Vec<(usize, u64)> = pool
            .imap_unordered(task!(square), 0..20)
            .map(|(i, result)| (i, result.unwrap()))
            .collect();
        unordered.sort();
        assert_eq!(
            unordered,
            (0..20).map(|i| (i, (i * i) as u64)).collect::<Vec<_>>()
        );
        assert!(
            pool.worker_pids().iter().all(|pid| !first.contains(pid)),
            "{method}"
        );
        pool.shutdown().unwrap();
    }
}

#[test]
fn zero_workers_are_refused_in_one_line() {
    let refused = Pool::builder(StartMethod::Spawn).workers(0).start();
    let text = refused.err().expect("refused").to_string();
    assert!(
        text.starts_with("refusing the pool's setting workers(0)"),
        "{text}"
    );
}
