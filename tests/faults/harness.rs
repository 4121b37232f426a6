//! What every fault case runs under: a time limit, after which the case is reported as a
//! hang in one line, and a count of the processes and descriptors it left behind.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

/// One fault case: its name, how long it may take, and its body.
pub struct Case {
    pub name: String,
    pub limit: Duration,
    pub body: Box<dyn FnOnce() -> Result<(), String> + Send>,
    /// Why this machine cannot run it, if it cannot: the case is listed as ignored.
    pub cannot_run: Option<String>,
}

impl Case {
    pub fn new(
        name: impl Into<String>,
        limit: Duration,
        body: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> Case {
        Case {
            name: name.into(),
            limit,
            body: Box::new(body),
            cannot_run: None,
        }
    }

    /// Ignored, and why, where `missing` says what this machine lacks.
    pub fn needing(mut self, missing: Option<String>) -> Case {
        self.cannot_run = missing;
        self
    }
}

/// The case as a test: its body runs on a thread of its own (and so with a fork server
/// of its own, reaped when the thread ends), bounded by its limit.
pub fn trial(case: Case) -> Trial {
    let Case {
        name,
        limit,
        body,
        cannot_run,
    } = case;
    let label = match &cannot_run {
        Some(why) => format!("{name} (ignored here: {why})"),
        None => name.clone(),
    };
    Trial::test(label, move || run_bounded(&name, limit, body))
        .with_ignored_flag(cannot_run.is_some())
}

fn run_bounded(
    name: &str,
    limit: Duration,
    body: Box<dyn FnOnce() -> Result<(), String> + Send>,
) -> Result<(), Failed> {
    let before = descriptors();
    let (done, finished) = mpsc::channel();
    let thread = thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
            .unwrap_or_else(|_| Err("the case panicked".to_owned()));
        let _ = done.send(outcome);
    });
    let outcome = match finished.recv_timeout(limit) {
        Ok(outcome) => outcome,
        // The thread is left behind: nothing can stop it, and what it holds is not
        // counted against later cases that would be blamed for it.
        Err(_) => {
            return Err(format!("{name}: hung, still running after {limit:?}").into());
        }
    };
    // Its fork server, if it started one, is reaped as the thread ends.
    let _ = thread.join();
    let left_processes = kill_leftover_children();
    let after = descriptors();
    let left_descriptors: Vec<String> = after
        .iter()
        // New, or a number reused for something else.
        .filter(|&(fd, target)| before.get(fd) != Some(target))
        .map(|(fd, target)| format!("{fd} → {target}"))
        .collect();
    let mut problems = Vec::new();
    if let Err(message) = outcome {
        problems.push(message);
    }
    if !left_processes.is_empty() {
        problems.push(format!(
            "left processes behind: {}",
            left_processes.join(", ")
        ));
    }
    if !left_descriptors.is_empty() {
        problems.push(format!(
            "left descriptors open: {}",
            left_descriptors.join(", ")
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems.join("; ").into()),
    }
}

/// This process's open descriptors and what each is, the listing's own left out.
fn descriptors() -> BTreeMap<i32, String> {
    let mut open = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(target) = std::fs::read_link(entry.path()) {
            let target = target.to_string_lossy().into_owned();
            if !target.ends_with("/fd") {
                open.insert(fd, target);
            }
        }
    }
    open
}

/// This process's children, running or unreaped: after a case, none should be left.
/// (This process is a subreaper, so a case's orphans are its children too.)
pub fn children() -> Vec<(Pid, char)> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (name) state ppid …`: the name may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('?');
        if fields.next() == Some(me.as_str()) {
            found.push((Pid::from_raw(pid), state));
        }
    }
    found
}

/// Kills and reaps every child left, and says which there were.
fn kill_leftover_children() -> Vec<String> {
    let left = children();
    for &(pid, _) in &left {
        let _ = kill(pid, Signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
    left.iter()
        .map(|(pid, state)| format!("{pid} ({state})"))
        .collect()
}

/// Waits, at most `limit`, for every child of this process to end, and reaps them: a
/// case's orphans (processes its tasks forked), once they have been told to go.
pub fn reap_orphans(limit: Duration) -> Result<(), String> {
    // The case thread's fork server is a child too, alive until stopped.
    forkspawn::ForkServer::stop();
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        loop {
            match waitpid(Pid::from_raw(-1), None) {
                Err(Errno::ECHILD) => break,
                Err(Errno::EINTR) | Ok(_) => continue,
                Err(_) => break,
            }
        }
        let _ = done.send(());
    });
    finished
        .recv_timeout(limit)
        .map_err(|_| format!("orphans still running after {limit:?}: {:?}", children()))
}
