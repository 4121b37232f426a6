//! Whether other work disturbed a run, seen during the run rather than guessed before it.
//!
//! Two counters of the kernel's, read when the run starts and when it ends:
//! - **CPU pressure** (`/proc/pressure/cpu`, `some total`): the time during which at least
//!   one runnable task waited for a CPU. A run alone on the machine makes a little of it
//!   itself (its pools of eight workers); other programs that compete for the CPUs make much
//!   more, whenever they run, however briefly.
//! - **Steal** (`/proc/stat`): time the hypervisor gave the machine's CPUs to someone else.
//!
//! Where the kernel keeps no pressure counter, the CPUs' busy time that was not the run's
//! own stands in for it.

use std::time::Instant;

/// More of the run than this spent with a task waiting for a CPU: disturbed. Alone on an
/// idle 2-core machine the benchmark waits about 6 % of its time (its own pools of eight
/// workers); with busy loops on both cores half of the time, 32 %; with one core busy all
/// along, 14 %.
pub const MOST_WAITED: f64 = 0.10;
/// More of the CPUs' time than this taken by the hypervisor, or by other programs where
/// there is no pressure counter: disturbed.
pub const MOST_STOLEN: f64 = 0.05;

/// The counters at the start of a run.
pub struct Meter {
    started: Instant,
    waited_us: Option<u64>,
    cpu: Option<CpuTimes>,
    own_cpu_us: u64,
}

/// What was measured of one run.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// The share of the run's time during which a task waited for a CPU.
    pub waited: Option<f64>,
    /// The share of the CPUs' time that the hypervisor took.
    pub stolen: f64,
    /// The share of the CPUs' time that other programs used (busy, less the run's own).
    pub others: f64,
}

#[derive(Clone, Copy)]
struct CpuTimes {
    busy: u64,
    steal: u64,
    total: u64,
}

fn cpu_times() -> Option<CpuTimes> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    let steal = fields.get(7).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total - idle - steal,
        steal,
        total,
    })
}

fn waited_us() -> Option<u64> {
    let pressure = std::fs::read_to_string("/proc/pressure/cpu").ok()?;
    let some = pressure.lines().find(|line| line.starts_with("some "))?;
    some.split_whitespace()
        .find_map(|field| field.strip_prefix("total="))?
        .parse()
        .ok()
}

/// CPU time of this process's reaped children, in microseconds: the run's own, since
/// nothing else runs while a run is metered.
fn children_cpu_us() -> u64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |usage| {
        let time = |t: nix::sys::time::TimeVal| {
            t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64
        };
        time(usage.user_time()) + time(usage.system_time())
    })
}

/// Starts metering a run.
pub fn start() -> Meter {
    Meter {
        started: Instant::now(),
        waited_us: waited_us(),
        cpu: cpu_times(),
        own_cpu_us: children_cpu_us(),
    }
}

impl Meter {
    /// Ends metering, once the run has been reaped.
    pub fn stop(self) -> Load {
        let elapsed_us = self.started.elapsed().as_micros().max(1) as f64;
        let waited = match (self.waited_us, waited_us()) {
            (Some(before), Some(after)) => {
                Some(after.saturating_sub(before) as f64 / elapsed_us)
            }
            _ => None,
        };
        let (stolen, others) = match (self.cpu, cpu_times()) {
            (Some(before), Some(after)) => {
                let total = after.total.saturating_sub(before.total).max(1) as f64;
                let ticks_per_us = total / (elapsed_us * cpus());
                let own = children_cpu_us().saturating_sub(self.own_cpu_us) as f64
                    * ticks_per_us;
                let busy = after.busy.saturating_sub(before.busy) as f64;
                (
                    after.steal.saturating_sub(before.steal) as f64 / total,
                    ((busy - own) / total).max(0.0),
                )
            }
            _ => (0.0, 0.0),
        };
        Load {
            waited,
            stolen,
            others,
        }
    }
}

fn cpus() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

impl Load {
    /// Why the run cannot be trusted to show this machine's figures, if it cannot.
    pub fn disturbance(&self) -> Option<String> {
        let percent = |share: f64| (share * 100.0).round();
        match self.waited {
            Some(waited) if waited > MOST_WAITED => {
                return Some(format!(
                    "tasks waited for a CPU {}% of the run",
                    percent(waited)
                ));
            }
            None if self.others > MOST_STOLEN => {
                return Some(format!(
                    "other programs used {}% of the CPUs during the run",
                    percent(self.others)
                ));
            }
            _ => {}
        }
        (self.stolen > MOST_STOLEN).then(|| {
            format!(
                "the hypervisor took {}% of the CPUs during the run",
                percent(self.stolen)
            )
        })
    }
}
