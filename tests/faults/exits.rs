//! A worker's exit is seen when it happens, not when its channel reaches end-of-file: a
//! process its task started, which holds a copy of the channel, must not keep the worker
//! alive in the pool's eyes.

use std::time::{Duration, Instant};

use forkspawn::{Pool, StartMethod, task};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::{self, Case};

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for method in crate::METHODS {
        cases.push(Case::new(
            format!("{method}: a shutdown does not wait for a task's child that holds the channel"),
            Duration::from_secs(30),
            move || a_shutdown_does_not_wait_for_a_task_s_child(method),
        ));
        cases.push(Case::new(
            format!("{method}: a worker killed by SIGABRT while a task's child holds its channel is reported so"),
            Duration::from_secs(30),
            move || an_abort_beside_a_task_s_child_is_reported_as_such(method),
        ));
    }
    cases
}

/// Forks a child that waits for a signal, holding the worker's channel, and returns it.
fn forks_a_lingering_child(_: u64) -> i32 {
    // SAFETY: the child only calls `pause`, which is async-signal-safe, until killed.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => loop {
            nix::unistd::pause();
        },
        Ok(nix::unistd::ForkResult::Parent { child }) => child.as_raw(),
        Err(_) => -1,
    }
}

fn aborts(_: u64) -> u64 {
    std::process::abort()
}

/// A pool whose one worker has left a child of its task behind, and that child.
fn pool_with_a_lingering_child(method: StartMethod) -> Result<(Pool, Pid), String> {
    let mut pool = crate::builder(method).start().map_err(|e| e.to_string())?;
    let child = pool
        .map(task!(forks_a_lingering_child), [0])
        .map_err(|e| e.to_string())?[0];
    if child <= 0 {
        return Err("the task could not fork".to_owned());
    }
    Ok((pool, Pid::from_raw(child)))
}

/// Kills the task's child and reaps it (it is this process's, as a subreaper's, once
/// its parent has gone).
fn end_lingering(child: Pid) -> Result<(), String> {
    let _ = kill(child, Signal::SIGKILL);
    harness::reap_orphans(Duration::from_secs(10))
}

fn a_shutdown_does_not_wait_for_a_task_s_child(
    method: StartMethod,
) -> Result<(), String> {
    let (pool, child) = pool_with_a_lingering_child(method)?;
    let started = Instant::now();
    let shut = pool.shutdown();
    let took = started.elapsed();
    end_lingering(child)?;
    shut.map_err(|e| e.to_string())?;
    // The worker leaves at once; the pool's timeout is 8 s.
    match took < Duration::from_secs(2) {
        true => Ok(()),
        false => Err(format!("the shutdown took {took:?}")),
    }
}

fn an_abort_beside_a_task_s_child_is_reported_as_such(
    method: StartMethod,
) -> Result<(), String> {
    let (mut pool, child) = pool_with_a_lingering_child(method)?;
    let started = Instant::now();
    let error = pool.map(task!(aborts), [1]);
    let took = started.elapsed();
    drop(pool);
    end_lingering(child)?;
    let text = match error {
        Ok(_) => return Err("the task returned".to_owned()),
        Err(error) => error.to_string(),
    };
    if !text.ends_with("was killed by SIGABRT on the 1st input of exits::aborts") {
        return Err(format!("not the abort: {text} (after {took:?})"));
    }
    Ok(())
}
