//! This program run again as a child of a case, with `--fault-child MODE METHOD`: what a
//! whole process prints, or which file its pool executes, is seen from outside.

use std::path::Path;
use std::time::Duration;

use forkspawn::{StartMethod, task};

use crate::common::{self, Outcome, WorkDir};

const FLAG: &str = "--fault-child";

/// Runs `program` (this one, or a copy of it) in `dir` in the given mode, in a process
/// group of its own, with a time limit and a check that it left no process behind.
pub fn run(
    dir: &WorkDir,
    program: &Path,
    mode: &str,
    method: StartMethod,
) -> Result<Outcome, String> {
    let args = [FLAG, mode, method.as_str()].map(str::to_owned);
    common::run_in(dir, program, &args, &[], Duration::from_secs(30))
}

/// The child's exit code, if this process was started as one.
pub fn run_if_asked() -> Option<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [flag, mode, method] = args.as_slice() else {
        return None;
    };
    if flag != FLAG {
        return None;
    }
    let method: StartMethod = method.parse().ok()?;
    let outcome = match mode.as_str() {
        "deleted-image" => crate::image::with_the_image_deleted(method),
        "partial-line" => crate::errors::print_a_partial_line_then_fork(method),
        "no-proc" => doubled(method).map(|_| ()),
        _ => Err(format!("no child mode {mode}")),
    };
    match outcome {
        Ok(()) => Some(0),
        Err(message) => {
            println!("error: {message}");
            Some(1)
        }
    }
}

pub fn double(x: u64) -> u64 {
    x * 2
}

pub fn doubled(method: StartMethod) -> Result<Vec<u64>, String> {
    let mut pool = crate::builder(method)
        .workers(2)
        .start()
        .map_err(|e| e.to_string())?;
    let results = pool
        .map(task!(double), [1, 2, 3, 4])
        .map_err(|e| e.to_string())?;
    pool.shutdown().map_err(|e| e.to_string())?;
    Ok(results)
}
