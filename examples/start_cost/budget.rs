//! The time the benchmark may take. On an idle machine it takes well under half of it;
//! past half, each later measurement does fewer runs, in proportion to the time left.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static LIMIT: OnceLock<(Instant, Duration)> = OnceLock::new();
static CUT: AtomicBool = AtomicBool::new(false);

pub fn start(limit: Duration) {
    let _ = LIMIT.set((Instant::now(), limit));
}

/// How many of the `wanted` runs (or milliseconds) to do now, `fewest` at least.
pub fn share(wanted: u32, fewest: u32) -> u32 {
    let Some((started, limit)) = LIMIT.get() else {
        return wanted;
    };
    let used = started.elapsed().as_secs_f64() / limit.as_secs_f64();
    if used < 0.5 {
        return wanted;
    }
    let left = ((1.0 - used) / 0.5).clamp(0.0, 1.0);
    let runs =
        ((f64::from(wanted) * left).ceil() as u32).clamp(fewest.min(wanted), wanted);
    if runs < wanted {
        CUT.store(true, Ordering::Relaxed);
    }
    runs
}

/// Whether any measurement did fewer runs than asked for.
pub fn was_cut() -> bool {
    CUT.load(Ordering::Relaxed)
}

pub fn limit() -> Duration {
    LIMIT.get().map_or(Duration::ZERO, |(_, limit)| *limit)
}
