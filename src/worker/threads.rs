//! What a fork does in a process that has other threads: any lock one of them holds at
//! the moment of `fork()` stays locked in the child (see "Fork and threads").

#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(unix)]
use crate::worker::error::PoolError;
#[cfg(unix)]
use crate::worker::{bootstrap, unlocked_io};

/// What a fork does when the process has more than one thread. Set with
/// `PoolBuilder::threaded_fork`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
pub enum ThreadedFork {
    /// Fork, and say once on standard error that a worker may deadlock.
    #[default]
    Warn,
    /// Do not fork: starting the pool fails with [`PoolError::ThreadedFork`].
    ///
    /// [`PoolError::ThreadedFork`]: crate::PoolError::ThreadedFork
    Refuse,
    /// Fork and say nothing: the program knows its threads hold no lock a worker needs.
    Allow,
}

/// True once the warning about a multi-threaded parent has been printed.
#[cfg(unix)]
static WARNED: AtomicBool = AtomicBool::new(false);

// ANCHOR: check_threads
/// Refuses to fork, or warns once per process, when this process has other threads: any
/// lock one of them holds at the fork stays locked in the worker. CPython 3.12 warns in
/// the same spot ("This process is multi-threaded, use of fork() may lead to deadlocks
/// in the child"). Returns the number of threads, where it is known.
#[cfg(unix)]
pub(crate) fn check_threads(policy: ThreadedFork) -> Result<Option<usize>, PoolError> {
    let server = bootstrap::current_process_name() == bootstrap::SERVER_NAME;
    // A test binary's harness thread waits, holding nothing (see `harness_threads`).
    let counted = thread_count()
        .map(|threads| threads.saturating_sub(bootstrap::harness_threads()).max(1));
    let threads = match (policy, counted) {
        (ThreadedFork::Allow, _) | (_, Some(0..=1)) => return Ok(counted),
        // Without `/proc` the number is unknown: a program that refuses must not fork.
        (ThreadedFork::Refuse, None) => {
            return Err(PoolError::ThreadedFork {
                threads: None,
                server,
            });
        }
        (ThreadedFork::Warn, None) => return Ok(None),
        (_, Some(threads)) => threads,
    };
    if policy == ThreadedFork::Refuse {
        return Err(PoolError::ThreadedFork {
            threads: Some(threads),
            server,
        });
    }
    if !WARNED.swap(true, Ordering::Relaxed) {
        let line = if server {
            format!(
                "warning: the fork server has {threads} threads; a worker may deadlock \
                 (start threads after init())\n"
            )
        } else {
            format!(
                "warning: this process has {threads} threads; a forked worker may \
                 deadlock (use spawn or forkserver)\n"
            )
        };
        unlocked_io::write_stderr(line.as_bytes());
    }
    Ok(counted)
}

/// The number of threads of this process, as the kernel lists them; `None` where there
/// is no `/proc` to ask.
#[cfg(unix)]
fn thread_count() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/task").ok()?.count())
}
// ANCHOR_END: check_threads
