//! A reply a worker sends that the pool did not ask for is a protocol error for that
//! worker, in one line, and never taken as the answer to another request.

use std::time::Duration;

use forkspawn::{StartMethod, task};

use crate::harness::{self, Case};

pub fn cases() -> Vec<Case> {
    crate::METHODS
        .into_iter()
        .map(|method| {
            Case::new(
                format!("{method}: a task that forks and returns on both sides is a protocol error, not an answer"),
                Duration::from_secs(30),
                move || a_task_answering_twice_is_a_protocol_error(method),
            )
        })
        .collect()
}

/// Forks, and returns on both sides: the worker's copy goes on serving the same channel,
/// and every reply comes twice.
fn answers_twice(x: u64) -> u64 {
    // SAFETY: the copy runs what the worker runs; a test of exactly that.
    let _ = unsafe { nix::unistd::fork() };
    x * 10
}

fn a_task_answering_twice_is_a_protocol_error(
    method: StartMethod,
) -> Result<(), String> {
    let mut pool = crate::builder(method)
        .workers(2)
        .start()
        .map_err(|e| e.to_string())?;
    let inputs = 1..=8_u64;
    let expected: Vec<u64> = inputs.clone().map(|x| x * 10).collect();
    // Detected on the next request, or if none is left for that worker, at shutdown.
    let error = match pool.map(task!(answers_twice), inputs) {
        Ok(results) if results != expected => {
            return Err(format!("a wrong answer: {results:?}"));
        }
        Ok(_) => pool.shutdown().err(),
        Err(error) => {
            drop(pool);
            Some(error)
        }
    };
    // The worker's copies read end-of-file once the pool is gone, and leave.
    harness::reap_orphans(Duration::from_secs(10))?;
    let error = error.ok_or("no error: the second replies went unseen")?;
    let text = error.to_string();
    let protocol = text.contains(" broke the protocol ")
        && text.ends_with(": it sent a reply nobody asked for")
        && !text.contains('\n');
    match protocol {
        true => Ok(()),
        false => Err(format!("not a protocol error: {text}")),
    }
}
