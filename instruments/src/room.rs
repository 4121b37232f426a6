//! How much memory this process may still fill, before the kernel kills it for want of
//! memory rather than refusing: what the machine has available, or less, if the process's
//! control group (a container's memory limit) leaves less room.

use std::fmt;
use std::path::Path;

/// The room left, and what sets it.
#[derive(Debug, PartialEq)]
pub(crate) enum Room {
    /// `MemAvailable` in `/proc/meminfo`.
    Machine { mib: usize },
    /// The tightest memory limit of the process's control group and its ancestors.
    Group { mib: usize },
}

impl Room {
    pub(crate) fn mib(&self) -> usize {
        match *self {
            Room::Machine { mib } | Room::Group { mib } => mib,
        }
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Room::Machine { mib } => write!(f, "the machine has {mib} MiB available"),
            Room::Group { mib } => write!(f, "its control group allows {mib} MiB more"),
        }
    }
}

/// The room left for this process, if the kernel says.
pub(crate) fn now() -> Option<Room> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|meminfo| machine_mib(&meminfo));
    let group = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|cgroups| group_mib(Path::new("/sys/fs/cgroup"), &cgroups));
    match (machine, group) {
        (Some(machine), Some(group)) if group < machine => {
            Some(Room::Group { mib: group })
        }
        (Some(machine), _) => Some(Room::Machine { mib: machine }),
        (None, group) => group.map(|mib| Room::Group { mib }),
    }
}

fn machine_mib(meminfo: &str) -> Option<usize> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// The least room any memory limit leaves, from the process's control group up to the
/// root: cgroup v2 (`memory.max`, `memory.current`) or v1's memory controller
/// (`memory.limit_in_bytes`, `memory.usage_in_bytes`). `None` where no level has a limit.
fn group_mib(root: &Path, cgroups: &str) -> Option<usize> {
    let entries: Vec<(&str, &str)> = cgroups
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':').skip(1);
            Some((fields.next()?, fields.next()?.trim_start_matches('/')))
        })
        .collect();
    // v1's memory controller where a system has one (a hybrid system lists both), else v2.
    let v1 = entries
        .iter()
        .find(|(controllers, _)| controllers.split(',').any(|c| c == "memory"))
        .map(|(_, path)| {
            let directory = root.join("memory").join(path);
            (
                directory,
                ["memory.limit_in_bytes", "memory.usage_in_bytes"],
            )
        });
    let v2 = || {
        entries
            .iter()
            .find(|(controllers, _)| controllers.is_empty())
            .map(|(_, path)| (root.join(path), ["memory.max", "memory.current"]))
    };
    let (directory, [limit_file, usage_file]) = v1.or_else(v2)?;
    let read = |directory: &Path, file: &str| -> Option<u64> {
        std::fs::read_to_string(directory.join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    // v2 writes `max` for no limit, which does not parse; v1 writes a number near 2^63.
    const NO_LIMIT: u64 = 1 << 62;
    directory
        .ancestors()
        .take_while(|level| level.starts_with(root))
        .filter_map(|level| {
            let limit = read(level, limit_file).filter(|&limit| limit < NO_LIMIT)?;
            let usage = read(level, usage_file).unwrap_or(0);
            Some(limit.saturating_sub(usage))
        })
        .min()
        .map(|bytes| usize::try_from(bytes >> 20).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control-group tree in a temporary directory: `levels` from the root down, each
    /// `(path, limit, usage)`.
    fn tree(
        name: &str,
        levels: &[(&str, &str, &str)],
        files: [&str; 2],
    ) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("room-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, limit, usage) in levels {
            let directory = root.join(path);
            std::fs::create_dir_all(&directory).unwrap();
            std::fs::write(directory.join(files[0]), limit).unwrap();
            std::fs::write(directory.join(files[1]), usage).unwrap();
        }
        root
    }

    #[test]
    fn the_tightest_limit_on_the_way_up_sets_the_room() {
        let v2 = ["memory.max", "memory.current"];
        let root = tree(
            "v2",
            &[
                ("", "max\n", "0\n"),
                ("ci", "1073741824\n", "104857600\n"),
                ("ci/job", "max\n", "5\n"),
            ],
            v2,
        );
        // 1 GiB limit, 100 MiB used, at the parent: 924 MiB left for the job.
        assert_eq!(group_mib(&root, "0::/ci/job\n"), Some(924));
        let root = tree(
            "v1",
            &[("memory/box", "536870912\n", "0\n")],
            ["memory.limit_in_bytes", "memory.usage_in_bytes"],
        );
        let cgroups = "9:name=systemd:/\n4:memory:/box\n0::/\n";
        assert_eq!(group_mib(&root, cgroups), Some(512));
    }

    #[test]
    fn no_limit_is_no_room_figure() {
        let root = tree(
            "none",
            &[("memory/p", "9223372036854771712\n", "1807564800\n")],
            ["memory.limit_in_bytes", "memory.usage_in_bytes"],
        );
        assert_eq!(group_mib(&root, "4:memory:/p\n"), None);
        assert_eq!(group_mib(&root, "3:cpuset:/\n"), None);
    }

    #[test]
    fn the_machine_figure_is_memavailable() {
        let meminfo = "MemTotal:       24576000 kB\nMemAvailable:   2097152 kB\n";
        assert_eq!(machine_mib(meminfo), Some(2048));
    }
}
