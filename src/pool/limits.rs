//! Settings a pool refuses before it starts anything: a worker count this machine cannot
//! hold (before the pool's list of workers is allocated), and a timeout of zero.

use std::time::Duration;

use super::PoolBuilder;
use crate::worker::error::PoolError;

/// Linux's own ceiling on process ids (`PID_MAX_LIMIT` on 64-bit systems): no system
/// runs more processes at once, and none is asked to here.
const MOST_PROCESSES_ANYWHERE: usize = 1 << 22;

pub(super) fn check(settings: &PoolBuilder) -> Result<(), PoolError> {
    if settings.timeout == Duration::ZERO {
        return Err(PoolError::Setting {
            setting: "timeout(0ns)".to_owned(),
            reason: "every wait would fail at once; give a worker at least 1ms"
                .to_owned(),
        });
    }
    let (most, why) = most_workers();
    if settings.workers > most {
        return Err(PoolError::Setting {
            setting: format!("workers({})", settings.workers),
            reason: why,
        });
    }
    Ok(())
}

/// The most workers this process could ever have at once, and what sets that limit.
fn most_workers() -> (usize, String) {
    let anywhere = MOST_PROCESSES_ANYWHERE;
    let mut limits = vec![(
        anywhere,
        format!("no system runs more than {anywhere} processes at once"),
    )];
    #[cfg(target_os = "linux")]
    if let Some(pid_max) = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
    {
        let why =
            format!("this machine runs at most {pid_max} processes (kernel.pid_max)");
        limits.push((pid_max, why));
    }
    // The pool holds one descriptor per worker, its channel, at least.
    #[cfg(unix)]
    if let Some(open) = descriptor_limit() {
        let why = format!(
            "this process may open {open} descriptors (ulimit -n), one a worker"
        );
        limits.push((open, why));
    }
    limits
        .into_iter()
        .min_by_key(|&(most, _)| most)
        .expect("one limit holds everywhere")
}

/// The soft limit on this process's open descriptors, unless it is unlimited.
#[cfg(unix)]
fn descriptor_limit() -> Option<usize> {
    use nix::libc;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: fills the structure it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    usize::try_from(limit.rlim_cur).ok()
}
