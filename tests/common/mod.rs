//! Running the book's programs from tests: built once, run in a process group of their
//! own, with a time limit, and with standard output and standard error in one pipe, as
//! a terminal shows them.

// Each test target uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What a finished program printed, and how it ended.
pub struct Outcome {
    pub output: String,
    pub status: ExitStatus,
}

impl Outcome {
    /// The output as a transcript shows it: a non-zero end is noted on a last line of
    /// its own.
    pub fn transcript(&self) -> String {
        let mut text = self.output.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        match (self.status.code(), self.status.signal()) {
            (Some(0), _) => {}
            (Some(code), _) => text.push_str(&format!("[exit status: {code}]\n")),
            (None, Some(signal)) => {
                text.push_str(&format!("[killed by signal {signal}]\n"))
            }
            (None, None) => text.push_str("[ended]\n"),
        }
        text
    }
}

/// The path of an example program, built with the current sources: in the dev profile
/// (all examples at once, on first use), or in the release profile (one at a time).
///
/// `cargo test --test transcripts` alone does not rebuild the examples, so the tests build
/// them themselves; cargo's JSON messages say where each executable is.
pub fn example_path(name: &str, release: bool) -> Result<PathBuf, String> {
    static DEV: OnceLock<Result<HashMap<String, PathBuf>, String>> = OnceLock::new();
    static RELEASE: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let missing = || format!("there is no example named `{name}` in examples/");
    if !release {
        let examples = DEV.get_or_init(|| build(&["--examples"])).as_ref()?;
        return examples.get(name).cloned().ok_or_else(missing);
    }
    let mut built = RELEASE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(name) {
        return Ok(path.clone());
    }
    let path = build(&["--release", "--example", name])?
        .remove(name)
        .ok_or_else(missing)?;
    built.insert(name.to_owned(), path.clone());
    Ok(path)
}

/// The script cargo runs a Windows build with (`runner` in `.cargo/config.toml`): it runs
/// the program under Wine.
pub const WINE_RUNNER: &str = "tests/support/wine-run";

/// The path of an example program built for `target` (the Windows one), in the dev profile.
pub fn example_path_for_target(name: &str, target: &str) -> Result<PathBuf, String> {
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(name) {
        return Ok(path.clone());
    }
    let path = build(&["--target", target, "--example", name])?
        .remove(name)
        .ok_or_else(|| format!("there is no example named `{name}` in examples/"))?;
    built.insert(name.to_owned(), path.clone());
    Ok(path)
}

/// Why this machine cannot build the book's programs for `target` and run them under
/// Wine, if it cannot: the first thing missing, as a reader would install it.
pub fn missing_for_windows(target: &str) -> Option<String> {
    let runs = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
    };
    let library = runs("rustc", &["--print", "target-libdir", "--target", target])
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .filter(|dir| dir.is_dir());
    let wine = ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"]
        .iter()
        .any(|path| Path::new(path).exists());
    if library.is_none() {
        Some(format!(
            "the {target} target is not installed: rustup target add {target}"
        ))
    } else if runs("x86_64-w64-mingw32-gcc", &["--version"]).is_none() {
        Some("no mingw linker: apt-get install gcc-mingw-w64-x86-64".to_owned())
    } else if !wine {
        Some("no Wine: apt-get install wine64".to_owned())
    } else {
        None
    }
}

fn build(what: &[&str]) -> Result<HashMap<String, PathBuf>, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--quiet", "--message-format=json"])
        .args(what)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo build {} failed: {}",
            what.join(" "),
            output.status
        ));
    }
    let mut examples = HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_example = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "example"));
        if let (true, Some(name), Some(executable)) = (
            is_example,
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) {
            examples.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    Ok(examples)
}

/// An empty directory for one run to work in, removed with everything in it when dropped.
/// A program that writes files (the benchmark's chart) writes them here, not in the
/// repository, unless the transcripts are being rewritten.
pub struct WorkDir(PathBuf);

impl WorkDir {
    pub fn new() -> Result<WorkDir, String> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir()
            .join(format!("fork-or-spawn-run-{}-{number}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(WorkDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Every file the run left here, with its path relative to this directory.
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut pending = vec![self.0.clone()];
        while let Some(directory) = pending.pop() {
            for entry in std::fs::read_dir(&directory)
                .into_iter()
                .flatten()
                .flatten()
            {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let (Ok(relative), Ok(bytes)) =
                    (path.strip_prefix(&self.0), std::fs::read(&path))
                {
                    files.push((relative.to_owned(), bytes));
                }
            }
        }
        files.sort();
        files
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `program` with `args` and no standard input, in a new process group and a fresh
/// working directory.
///
/// Fails when the program is still running after `limit`, or when any process of its
/// group (a worker it forked or spawned) is still there after it exits: every process
/// is killed before this returns, so a hung child fails the test and never hangs it.
pub fn run(
    program: &Path,
    args: &[String],
    limit: Duration,
) -> Result<Outcome, String> {
    run_with_env(program, args, &[], limit)
}

/// [`run`], with these variables added to the environment.
pub fn run_with_env(
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    limit: Duration,
) -> Result<Outcome, String> {
    run_in(&WorkDir::new()?, program, args, env, limit)
}

/// [`run_with_env`], in the working directory `dir`.
pub fn run_in(
    dir: &WorkDir,
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    limit: Duration,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let (mut reader, writer) = std::io::pipe().map_err(|e| e.to_string())?;
    let mut child = {
        let stdout = writer.try_clone().map_err(|e| e.to_string())?;
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(writer)
            // The environment as it is, as a reader's would be (`RUST_BACKTRACE=1`
            // included), and what the caller adds.
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?
        // The command, and with it this process's copies of the pipe's write end, is
        // dropped here: end-of-file comes when the program and all its workers have
        // closed theirs.
    };
    let group = Pid::from_raw(child.id() as i32);

    let (output_sender, output_receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = reader.read_to_end(&mut bytes);
        let _ = output_sender.send(bytes);
    });
    let output = output_receiver.recv_timeout(limit);
    let Ok(bytes) = output else {
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
        return Err(format!(
            "{} {} was still running after {limit:?}; its process group was killed",
            program.display(),
            args.join(" ")
        ));
    };
    let (status_sender, status_receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = status_sender.send(child.wait());
    });
    let remaining = limit
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(1));
    let status = match status_receiver.recv_timeout(remaining) {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => return Err(format!("cannot wait for the program: {e}")),
        Err(_) => {
            let _ = killpg(group, Signal::SIGKILL);
            return Err(
                "the program closed its output but did not exit; killed".to_owned()
            );
        }
    };
    if killpg(group, None) != Err(Errno::ESRCH) {
        let _ = killpg(group, Signal::SIGKILL);
        return Err(format!(
            "{} {} exited but left processes of its group behind (orphans or unreaped workers)",
            program.display(),
            args.join(" ")
        ));
    }
    Ok(Outcome {
        output: String::from_utf8_lossy(&bytes).into_owned(),
        status,
    })
}
