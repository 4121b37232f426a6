//! What the kernel reports about a process, read from `/proc` (Linux only).
//!
//! Each figure here is the kernel's own account, not an estimate by the program: memory from
//! `/proc/PID/smaps_rollup`, page faults from `/proc/PID/stat`, descriptors from
//! `/proc/PID/fd`, signal dispositions from `/proc/PID/status`.

use std::fmt;
use std::io;

use nix::sys::signal::Signal;
use procfs::process::{FDTarget, Process};

fn process(pid: u32) -> io::Result<Process> {
    let pid = i32::try_from(pid).map_err(io::Error::other)?;
    Process::new(pid).map_err(io::Error::other)
}

/// A number of bytes, shown in MiB with one decimal: `256.0 MiB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mib(pub u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:.1} MiB", self.0 as f64 / (1u64 << 20) as f64);
        f.pad(&text)
    }
}

// ANCHOR: memory
/// How much memory a process uses, three ways.
#[derive(Clone, Copy, Debug)]
pub struct MemoryUsage {
    /// Resident set size: every page that is in memory and mapped into the process, shared
    /// or not. (Mapped is not writable without a fault: a page shared copy-on-write is
    /// counted here, and the first write to it still faults.)
    /// Adding up the RSS of processes that share pages counts those pages more than once.
    pub rss: Mib,
    /// Proportional set size: each page divided by the number of processes that map it.
    /// The PSS of all processes adds up to the memory really in use.
    pub pss: Mib,
    /// Unique set size: the pages this process alone maps (private clean + private dirty):
    /// what the system would get back if the process ended.
    pub uss: Mib,
    /// How much of the resident memory lies in transparent huge pages (AnonHugePages).
    pub huge: Mib,
}
// ANCHOR_END: memory

/// The memory use of process `pid`.
pub fn memory_usage(pid: u32) -> io::Result<MemoryUsage> {
    let rollup = process(pid)?.smaps_rollup().map_err(io::Error::other)?;
    let map = rollup
        .memory_map_rollup
        .0
        .first()
        .map(|total| &total.extension.map)
        .ok_or_else(|| io::Error::other("empty smaps_rollup"))?;
    let field = |name: &str| map.get(name).copied().unwrap_or(0);
    Ok(MemoryUsage {
        rss: Mib(field("Rss")),
        pss: Mib(field("Pss")),
        uss: Mib(field("Private_Clean") + field("Private_Dirty")),
        huge: Mib(field("AnonHugePages")),
    })
}

/// How many minor page faults process `pid` has taken: faults the kernel resolved without
/// reading a disk, such as the copy of a copy-on-write page.
pub fn minor_faults(pid: u32) -> io::Result<u64> {
    Ok(process(pid)?.stat().map_err(io::Error::other)?.minflt)
}

/// Where the stack of process `pid` starts: the `startstack` field of `/proc/PID/stat`.
pub fn stack_start(pid: u32) -> io::Result<u64> {
    Ok(process(pid)?.stat().map_err(io::Error::other)?.startstack)
}

/// One open file descriptor and what it refers to.
#[derive(Clone, Debug)]
pub struct Descriptor {
    /// Its number in the process.
    pub fd: i32,
    /// A path, or `pipe:[inode]`, `socket:[inode]`, …
    pub target: String,
}

/// The open file descriptors of process `pid`, in order.
pub fn open_descriptors(pid: u32) -> io::Result<Vec<Descriptor>> {
    let mut descriptors = Vec::new();
    for info in process(pid)?.fd().map_err(io::Error::other)? {
        let info = info.map_err(io::Error::other)?;
        let target = match info.target {
            FDTarget::Path(path) => path.display().to_string(),
            FDTarget::Pipe(inode) => format!("pipe:[{inode}]"),
            FDTarget::Socket(inode) => format!("socket:[{inode}]"),
            FDTarget::AnonInode(kind) => format!("anon_inode:{kind}"),
            other => format!("{other:?}"),
        };
        descriptors.push(Descriptor {
            fd: info.fd,
            target,
        });
    }
    descriptors.sort_by_key(|d| d.fd);
    Ok(descriptors)
}

// ANCHOR: signals
/// What a process does with each signal, as the kernel keeps it: `SigCgt`, `SigBlk` and
/// `SigIgn` in `/proc/PID/status`.
#[derive(Clone, Debug)]
pub struct SignalDispositions {
    /// Signals with a handler installed ("caught").
    pub caught: Vec<Signal>,
    /// Signals in the mask of blocked signals (of the thread that reads the file).
    pub blocked: Vec<Signal>,
    /// Signals whose disposition is "ignore".
    pub ignored: Vec<Signal>,
}
// ANCHOR_END: signals

/// The signal dispositions of process `pid`.
pub fn signal_dispositions(pid: u32) -> io::Result<SignalDispositions> {
    let status = process(pid)?.status().map_err(io::Error::other)?;
    Ok(SignalDispositions {
        caught: signals_in(status.sigcgt),
        blocked: signals_in(status.sigblk),
        ignored: signals_in(status.sigign),
    })
}

/// Bit `n - 1` of a mask stands for signal `n`.
fn signals_in(mask: u64) -> Vec<Signal> {
    (1..=64)
        .filter(|n| mask & (1u64 << (n - 1)) != 0)
        .filter_map(|n| Signal::try_from(n).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_mask_bit_by_bit() {
        // SIGHUP is 1, SIGUSR1 10, SIGUSR2 12.
        let mask = (1 << 0) | (1 << 9) | (1 << 11);
        assert_eq!(
            signals_in(mask),
            [Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGUSR2]
        );
    }

    #[test]
    fn shows_mebibytes_with_one_decimal() {
        assert_eq!(Mib(256 << 20).to_string(), "256.0 MiB");
        assert_eq!(format!("{:>10}", Mib(3 << 19)), "   1.5 MiB");
    }

    #[test]
    fn this_process_uses_memory_and_has_standard_streams() {
        let usage = memory_usage(std::process::id()).unwrap();
        assert!(usage.rss >= usage.pss && usage.pss >= usage.uss && usage.uss.0 > 0);
        let fds = open_descriptors(std::process::id()).unwrap();
        assert!(fds.iter().any(|d| d.fd == 0) && fds.iter().any(|d| d.fd == 2));
    }
}
