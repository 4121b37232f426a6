//! What the figures mean, in words. The book's check compares these words exactly, on
//! the reader's machine as on the book's: each says what holds on any machine (fork grows
//! with the parent, spawn stays flat, the pools' order at the smallest and largest sizes),
//! with a margin far wider than the noise between runs. What belongs to one machine (the
//! size at which fork and spawn cross, a ratio close to a target) is printed as a figure,
//! which the check does not compare. The project's own targets are a report of their
//! own (`--targets`), not part of the book's run.

use std::fmt::Write;

use crate::measure::{Phases, Row, median};
use crate::table;

/// Every measurement of one run, and the sizes it covered.
pub struct Figures<'a> {
    pub rows: &'a [Row],
    pub huge: &'a [Row],
    pub phases: &'a Phases,
    pub sizes: &'a [u32],
}

/// `a` against `b`, as a ratio.
fn ratio(a: u64, b: u64) -> f64 {
    a as f64 / b.max(1) as f64
}

/// At least this many times: "many times", on any machine. Every such margin in this
/// file is several times the spread of a median between runs, so that a verdict does not
/// turn from one run to the next.
const MANY: f64 = 3.0;
/// Within this factor of each other: "about as much".
const ABOUT: f64 = 3.0;
/// Within this factor of its cost at 0 MiB, a cost is "flat".
const FLAT: f64 = 2.0;

const OURS: [(&str, &str); 6] = [
    ("fork", "fork"),
    ("spawn", "spawn"),
    ("forkserver", "fsrv"),
    ("forkserver-own", "fsrv own"),
    ("raw-fork", "raw fork"),
    ("raw-posix-spawn", "raw spawn"),
];
const CPYTHON: [(&str, &str); 3] = [
    ("python-fork", "CPy fork"),
    ("python-spawn", "CPy spawn"),
    ("python-forkserver", "CPy fsrv"),
];

/// The pools (and the floor) whose cost does not depend on the parent's size.
const FLAT_POOLS: [(&str, &str); 4] = [
    ("spawn", "spawn pool"),
    ("forkserver", "fsrv pool"),
    ("forkserver-own", "fsrv own"),
    ("raw-posix-spawn", "raw spawn"),
];

impl Figures<'_> {
    /// Each method's cost at the largest size over its cost at the smallest, with its title.
    fn largest_against_smallest(
        &self,
        methods: &[(&str, &'static str)],
    ) -> Vec<(&'static str, f64)> {
        let (zero, top) = (self.smallest(), self.largest());
        methods
            .iter()
            .filter_map(|&(method, title)| {
                Some((title, ratio(self.at(method, top)?, self.at(method, zero)?)))
            })
            .collect()
    }

    fn find(
        rows: &[Row],
        method: &str,
        parent_mib: u32,
        workers: usize,
    ) -> Option<u64> {
        rows.iter()
            .find(|r| {
                r.method == method && r.parent_mib == parent_mib && r.workers == workers
            })
            .map(|r| r.median_us)
    }

    fn at(&self, method: &str, parent_mib: u32) -> Option<u64> {
        Self::find(self.rows, method, parent_mib, 1)
    }

    /// A cost that does not depend on the parent's size: the median of its medians at
    /// every size. A comparison with this level is not turned by one size's measurement
    /// that a stall inflated.
    fn level(&self, method: &str) -> Option<u64> {
        let at_sizes: Vec<u64> = self
            .sizes
            .iter()
            .filter_map(|&s| self.at(method, s))
            .collect();
        (!at_sizes.is_empty()).then(|| median(at_sizes))
    }

    fn smallest(&self) -> u32 {
        self.sizes.first().copied().unwrap_or(0)
    }

    fn largest(&self) -> u32 {
        self.sizes.last().copied().unwrap_or(0)
    }

    /// One table line per size, one cell per method.
    fn by_size(&self, columns: &[(&str, &str)], sizes: &[u32]) -> String {
        let titles: Vec<&str> = columns.iter().map(|(_, title)| *title).collect();
        let lines: Vec<(String, Vec<Option<u64>>)> = sizes
            .iter()
            .map(|&mib| {
                let values = columns.iter().map(|(m, _)| self.at(m, mib)).collect();
                (format!("{mib} MiB"), values)
            })
            .collect();
        table::render("", &titles, &lines)
    }

    /// The whole report: the tables, and the verdicts under them.
    pub fn report(&self, heading: &str, with_python: bool) -> String {
        let mut out = String::new();
        out.push_str(heading);
        out.push_str(
            "a run: start the workers, give each one task, shut the pool down\n",
        );
        out.push_str(
            "pools of one worker, and the floors, against the parent's size:\n",
        );
        out.push_str(&self.by_size(&OURS, self.sizes));
        if with_python {
            out.push_str("CPython's ProcessPoolExecutor, one worker, a new interpreter per run:\n");
            out.push_str(&self.by_size(&CPYTHON, &[0]));
        }
        self.growth(&mut out);
        self.flat(&mut out);
        self.order(&mut out);
        self.why_fork_grows(&mut out);
        self.huge_pages(&mut out);
        if with_python {
            self.against_cpython(&mut out);
        }
        self.workers(&mut out);
        self.phases(&mut out);
        out
    }

    /// How fork's cost moves with the parent: by how much from the smallest size to the
    /// largest, and, as this machine's figures, per MiB below and above 256 MiB. Whether
    /// those two make a straight line is a property of a machine (16 and 12 µs on one, 110
    /// and 40 µs on another of the same kind), and so is whether each size costs more than
    /// the one before: one stalled measurement among six turned it in 1 run of 10 here.
    fn growth(&self, out: &mut String) {
        let (zero, top) = (self.smallest(), self.largest());
        let _ = writeln!(
            out,
            "fork grows with the parent ({top} MiB against {zero} MiB):"
        );
        for (method, title) in [("fork", "fork pool"), ("raw-fork", "raw fork")] {
            let (Some(low), Some(high)) = (self.at(method, zero), self.at(method, top))
            else {
                continue;
            };
            let r = ratio(high, low);
            let words = if r >= MANY {
                "many times more"
            } else {
                "not many times more"
            };
            let _ = writeln!(out, "  {title:<10}{r:>7.1}×: {words}");
        }
        let _ = writeln!(
            out,
            "  per MiB of parent, below and above 256 MiB (this machine's figures):"
        );
        for (method, title) in [("fork", "fork pool"), ("raw-fork", "raw fork")] {
            let _ = writeln!(out, "    {title:<10}{}", self.slopes(method));
        }
    }

    /// The cost per MiB below and above 256 MiB.
    fn slopes(&self, method: &str) -> String {
        let slope = |from: u32, to: u32| {
            let (a, b) = (self.at(method, from)?, self.at(method, to)?);
            Some((b as f64 - a as f64) / f64::from(to - from))
        };
        match (slope(self.smallest(), 256), slope(256, self.largest())) {
            (Some(below), Some(above)) => format!("{below:>6.1} µs {above:>6.1} µs"),
            _ => "too few sizes to tell".to_owned(),
        }
    }

    /// Spawn and forkserver: their cost at the largest size against the smallest.
    fn flat(&self, out: &mut String) {
        let (zero, top) = (self.smallest(), self.largest());
        let _ = writeln!(
            out,
            "spawn and forkserver do not ({top} MiB against {zero} MiB):"
        );
        for (title, r) in self.largest_against_smallest(&FLAT_POOLS) {
            let words = if (1.0 / FLAT..=FLAT).contains(&r) {
                "flat (within 2×)"
            } else {
                "not flat"
            };
            let _ = writeln!(out, "  {title:<10}{r:>7.2}×: {words}");
        }
    }

    /// Which pool costs less, against the spawn pool (whose cost is the same at every
    /// size) and, at the largest size, against the fork pool: orders that hold on any
    /// machine, each by a wide margin. Where fork and spawn cross is this machine's, and is
    /// printed as figures.
    fn order(&self, out: &mut String) {
        let (zero, top) = (self.smallest(), self.largest());
        let _ = writeln!(out, "which pool costs less:");
        let spawn = self.level("spawn");
        let fork_top = self.at("fork", top);
        let comparisons = [
            (
                format!("fork pool at {zero} MiB"),
                self.at("fork", zero),
                spawn,
                "spawn",
            ),
            (format!("fork pool at {top} MiB"), fork_top, spawn, "spawn"),
            (
                "fsrv pool".to_owned(),
                self.level("forkserver"),
                spawn,
                "spawn",
            ),
            (
                "fsrv own".to_owned(),
                self.level("forkserver-own"),
                spawn,
                "spawn",
            ),
            (
                format!("fsrv pool at {top} MiB"),
                self.at("forkserver", top),
                fork_top,
                "fork",
            ),
            (
                format!("fsrv own at {top} MiB"),
                self.at("forkserver-own", top),
                fork_top,
                "fork",
            ),
        ];
        for (title, cost, than, other) in comparisons {
            let (Some(cost), Some(than)) = (cost, than) else {
                continue;
            };
            let r = ratio(cost, than);
            let words = if cost < than { "cheaper" } else { "dearer" };
            let _ = writeln!(out, "  {title:<22}{r:>7.2}× the {other} pool: {words}");
        }
        if let Some((before, after)) = self.crossover() {
            let _ = writeln!(
                out,
                "  the fork pool passes the spawn pool between {before} MiB and {after} MiB here"
            );
        }
    }

    /// The sizes between which the fork pool comes to cost more than the spawn pool's
    /// level: the last size at which it is cheaper before the first at which it is dearer.
    fn crossover(&self) -> Option<(u32, u32)> {
        let spawn = self.level("spawn")?;
        let first_dearer = self
            .sizes
            .iter()
            .position(|&s| self.at("fork", s).is_some_and(|f| f > spawn))?;
        let before = self.sizes.get(first_dearer.checked_sub(1)?)?;
        Some((*before, self.sizes[first_dearer]))
    }

    /// The bare fork cycle cut in two, at every size; and at the largest, how the
    /// child's exit and the wait compare with `fork()` itself.
    fn why_fork_grows(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "a raw fork in two: fork() itself, then the child's exit and wait:"
        );
        let columns = [
            ("raw-fork-call", "fork()"),
            ("raw-fork-exit-wait", "exit+wait"),
        ];
        out.push_str(&self.by_size(&columns, self.sizes));
        let top = self.largest();
        if let (Some(fork), Some(exit)) = (
            self.at("raw-fork-call", top),
            self.at("raw-fork-exit-wait", top),
        ) {
            let r = ratio(exit, fork);
            let words = match r {
                r if r > ABOUT => "longer than fork()",
                r if r >= 1.0 / ABOUT => "about as long (within 3×)",
                _ => "much shorter than fork()",
            };
            let _ =
                writeln!(out, "  exit+wait / fork() at {top} MiB: {r:.2}×: {words}");
        }
    }

    fn huge_pages(&self, out: &mut String) {
        let Some(&Row { parent_mib, .. }) = self.huge.first() else {
            return;
        };
        let in_huge =
            Self::find(self.huge, "huge-pages-mib", parent_mib, 0).unwrap_or(0);
        let _ = writeln!(
            out,
            "at {parent_mib} MiB again, {in_huge} MiB of it in 2 MiB huge pages:"
        );
        for (method, title) in [("fork", "fork pool"), ("raw-fork", "raw fork")] {
            let small = self.at(method, parent_mib);
            let large = Self::find(self.huge, method, parent_mib, 1);
            if let (Some(small), Some(large)) = (small, large) {
                let r = ratio(small, large);
                let words = if r >= MANY {
                    "many times faster"
                } else {
                    "not many times faster"
                };
                let _ = writeln!(
                    out,
                    "  {title:<10}{:>10} (4 KiB pages: {r:.1}×): {words}",
                    format!("{large} µs")
                );
            }
        }
    }

    fn against_cpython(&self, out: &mut String) {
        let _ = writeln!(out, "CPython's pool / this library's, one worker at 0 MiB:");
        // Each CPython run is a new interpreter, whose forkserver pool starts a server:
        // it is compared with the pool that starts its own.
        for (ours, title, theirs) in [
            ("fork", "fork", "python-fork"),
            ("spawn", "spawn", "python-spawn"),
            ("forkserver-own", "fsrv own", "python-forkserver"),
        ] {
            if let (Some(mine), Some(python)) = (self.at(ours, 0), self.at(theirs, 0)) {
                let r = ratio(python, mine);
                let words = if r >= MANY {
                    "many times dearer"
                } else {
                    "not many times dearer"
                };
                let _ = writeln!(out, "  {title:<10}{r:>7.1}×: {words}");
            }
        }
    }

    /// Pools of 1, 2, 4 and 8 workers at 0 MiB: figures only. A verdict on what each
    /// worker after the first adds compared pools measured far apart in time, and on a
    /// machine whose speed drifted it turned from one run to the next.
    fn workers(&self, out: &mut String) {
        let columns = [("fork", "fork"), ("spawn", "spawn"), ("forkserver", "fsrv")];
        let titles: Vec<&str> = columns.iter().map(|(_, t)| *t).collect();
        let _ = writeln!(out, "pools of 1 to 8 workers, at 0 MiB:");
        let lines: Vec<_> = [1, 2, 4, 8]
            .into_iter()
            .map(|n| {
                let values = columns
                    .iter()
                    .map(|(m, _)| Self::find(self.rows, m, 0, n))
                    .collect();
                (format!("{n}"), values)
            })
            .collect();
        out.push_str(&table::render("workers", &titles, &lines));
    }

    /// Where a fork pool's time goes at 0 MiB, phase by phase.
    fn phases(&self, out: &mut String) {
        let phases = self.phases;
        let _ = writeln!(out, "a fork pool at 0 MiB, phase by phase:");
        for (name, us) in phases.medians {
            let _ = writeln!(out, "  {name:<26} {:>8}", format!("{us} µs"));
        }
        let [_, _, first, second, _] = phases.medians.map(|(_, us)| us);
        let r = ratio(first, second);
        let words = if r >= 2.0 {
            "the first costs more (2× or more)"
        } else {
            "about the same"
        };
        let _ = writeln!(out, "  first task / second: {r:.1}×: {words}");
        let [bare, pool] = phases.faults;
        let words = if pool >= 2 * bare.max(1) {
            "the worker more (2× or more)"
        } else {
            "about as many"
        };
        let _ = writeln!(
            out,
            "  a bare child takes {bare} faults, a worker {pool} faults: {words}"
        );
    }

    /// The project's own targets, with this machine's figures: whether each is met here.
    /// Not part of the book's run: a target close to its figure is met on one machine and
    /// missed on another.
    pub fn targets(&self) -> String {
        let mut out = String::from("the project's targets, on this machine:\n");
        let met = |ok: bool| if ok { "met" } else { "missed" };
        let (zero, top) = (self.smallest(), self.largest());
        for (title, r) in self.largest_against_smallest(&FLAT_POOLS[..3]) {
            let _ = writeln!(
                out,
                "  {title:<10} at {top} MiB / at {zero} MiB {r:.2}× (at most 1.2×): {}",
                met(r <= 1.2)
            );
        }
        let cheaper = self
            .sizes
            .iter()
            .filter(|&&s| s >= 64)
            .all(|&s| matches!((self.at("forkserver", s), self.at("fork", s)), (Some(a), Some(b)) if a < b));
        let _ = writeln!(
            out,
            "  fsrv pool cheaper than the fork pool from 64 MiB up: {}",
            met(cheaper)
        );
        if let (Some(pool), Some(raw)) = (self.at("fork", 0), self.at("raw-fork", 0)) {
            let r = ratio(pool, raw);
            let _ = writeln!(
                out,
                "  fork pool / raw fork at 0 MiB {r:.2}× (at most 2×): {}",
                met(r <= 2.0)
            );
        }
        for (ours, title, theirs, at_least) in [
            ("spawn", "spawn", "python-spawn", 20.0),
            ("fork", "fork", "python-fork", 10.0),
            ("forkserver-own", "fsrv own", "python-forkserver", 20.0),
        ] {
            if let (Some(mine), Some(python)) = (self.at(ours, 0), self.at(theirs, 0)) {
                let r = ratio(python, mine);
                let _ = writeln!(
                    out,
                    "  CPython / this library, {title:<9}{r:>6.1}× (at least {at_least}×): {}",
                    met(r >= at_least)
                );
            }
        }
        out
    }
}
