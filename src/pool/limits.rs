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
    if settings.workers == 0 {
        return Err(PoolError::Setting {
            setting: "workers(0)".to_owned(),
            reason: "a pool with no worker runs nothing; ask for at least 1".to_owned(),
        });
    }
    if settings.max_tasks_per_child == Some(0) {
        return Err(PoolError::Setting {
            setting: "max_tasks_per_child(0)".to_owned(),
            reason: "a worker must run at least 1 task before it is replaced"
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
    let everywhere = (
        anywhere,
        format!("no system runs more than {anywhere} processes at once"),
    );
    [Some(everywhere), process_limit(), descriptor_limit()]
        .into_iter()
        .flatten()
        .min_by_key(|&(most, _)| most)
        .unwrap_or_else(|| unreachable!("one limit holds everywhere"))
}

/// How many processes this machine runs at once, at most.
#[cfg(target_os = "linux")]
fn process_limit() -> Option<(usize, String)> {
    let text = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok()?;
    let pid_max = text.trim().parse::<usize>().ok()?;
    let why = format!("this machine runs at most {pid_max} processes (kernel.pid_max)");
    Some((pid_max, why))
}

#[cfg(not(target_os = "linux"))]
fn process_limit() -> Option<(usize, String)> {
    None
}

/// The soft limit on this process's open descriptors, unless it is unlimited: the pool
/// holds one descriptor a worker, its channel, at least.
#[cfg(unix)]
fn descriptor_limit() -> Option<(usize, String)> {
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
    let open = usize::try_from(limit.rlim_cur).ok()?;
    let why =
        format!("this process may open {open} descriptors (ulimit -n), one a worker");
    Some((open, why))
}

#[cfg(not(unix))]
fn descriptor_limit() -> Option<(usize, String)> {
    None
}
