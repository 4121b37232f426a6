//! How a process learns what it is: the main program, a forked worker, a spawned worker,
//! or a fork server.

use std::ffi::OsString;
use std::ops::Range;
use std::sync::OnceLock;
#[cfg(unix)]
use std::sync::atomic::AtomicI32;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

#[cfg(any(unix, windows))]
use crate::worker;
use crate::worker::test_support::{self, HARNESS_ARGS};

/// The arguments a spawned worker is started with: this flag, its name and the pid of
/// the process whose pool started it. Python's spawned workers carry
/// `--multiprocessing-fork` on their command line for the same purpose.
pub(crate) const WORKER_FLAG: &str = "--forkspawn-worker";

/// The arguments a fork server is started with: this flag and the pid of the process
/// whose pool started it.
pub(crate) const SERVER_FLAG: &str = "--forkspawn-server";

/// The descriptor a spawned worker or a fork server finds its channel to the pool at.
#[cfg(unix)]
pub(crate) const CHANNEL_FD: i32 = 3;

/// The name a fork server goes by.
pub(crate) const SERVER_NAME: &str = "ForkServer";

/// What this process was started as, as its command line says.
#[cfg_attr(not(any(unix, windows)), allow(dead_code))] // no worker starts elsewhere
enum Role {
    /// The program as the user started it.
    Main,
    /// A spawned worker with this name. On Windows, its channel is the inherited socket
    /// whose number follows the parent's pid.
    Worker {
        name: String,
        parent: u32,
        #[cfg(windows)]
        channel: u64,
    },
    /// A fork server.
    #[cfg_attr(windows, allow(dead_code))] // none starts on Windows
    Server { parent: u32 },
}

/// How many arguments a spawned worker's flag takes: its name and its parent's pid, and on
/// Windows the number of its socket.
const WORKER_ARGS: usize = if cfg!(windows) { 3 } else { 2 };

/// What this process was started as, and where its command line says so.
struct Marker {
    role: Role,
    /// The arguments the launcher put there, by their place on the command line: not the
    /// program's own, so [`program_args`] leaves them out.
    taken: Range<usize>,
    /// True in a test binary started again through its `test_support!` test: the flag
    /// follows the arguments that make the harness run that test (see `test_support.rs`).
    #[cfg_attr(windows, allow(dead_code))]
    // read where a harness's output is muted
    in_test_harness: bool,
}

/// Reads the marker off a command line, the program's name first. The flag is the first
/// argument, or in a test binary the first after the harness's arguments; anywhere else
/// it is the user's, and means nothing here.
fn read_marker(args: &[&str]) -> Marker {
    let harness_end = 1 + HARNESS_ARGS.len();
    let in_test_harness = args.len() > harness_end
        && args[2..=harness_end] == HARNESS_ARGS
        && test_support::is_test_name(args[1]);
    let at = if in_test_harness { harness_end + 1 } else { 1 };
    let text = |i: usize| args.get(at + i).copied();
    let pid = |i: usize| text(i).and_then(|p| p.parse().ok());
    let (role, count) = match (text(0), text(1), pid(2)) {
        #[cfg(windows)]
        (Some(WORKER_FLAG), Some(name), Some(parent)) => {
            match text(3).and_then(|c| c.parse().ok()) {
                Some(channel) => {
                    let worker = Role::Worker {
                        name: name.to_owned(),
                        parent,
                        channel,
                    };
                    (worker, 1 + WORKER_ARGS)
                }
                None => (Role::Main, 0),
            }
        }
        #[cfg(not(windows))]
        (Some(WORKER_FLAG), Some(name), Some(parent)) => {
            let worker = Role::Worker {
                name: name.to_owned(),
                parent,
            };
            (worker, 1 + WORKER_ARGS)
        }
        (Some(SERVER_FLAG), _, _) => match pid(1) {
            Some(parent) => (Role::Server { parent }, 2),
            None => (Role::Main, 0),
        },
        _ => (Role::Main, 0),
    };
    let in_test_harness = in_test_harness && count > 0;
    // In a test binary the `--` before the flag is the launcher's too.
    let from = if in_test_harness { at - 1 } else { at };
    Marker {
        role,
        taken: from..at + count,
        in_test_harness,
    }
}

/// This process's marker, from its command line.
fn marker() -> Marker {
    let args: Vec<OsString> = std::env::args_os().collect();
    // An argument that is not Unicode is none of the launcher's.
    let words: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    read_marker(&words)
}

fn role() -> Role {
    marker().role
}

/// The command line, after the program's name, that starts this program again as
/// `marker` says (a flag and its arguments): the flag, then the parent's own arguments,
/// which code before `init()` sees again, as it would in Python. A test binary with a
/// `test_support!` test is started with the harness arguments that run only that test,
/// which calls `init()`, and the flag after them.
#[cfg(any(unix, windows))]
pub(crate) fn relaunch_args(marker: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    match test_support::test_name() {
        Some(test) => {
            args.push(test.into());
            args.extend(HARNESS_ARGS.map(OsString::from));
            args.extend(marker.iter().map(OsString::from));
        }
        None => {
            args.extend(marker.iter().map(OsString::from));
            args.extend(program_args().into_iter().skip(1));
        }
    }
    args
}

/// A forked worker's name. An atomic pointer rather than a lock: the child sets it right
/// after `fork()`, when a lock may be held by a parent thread that the child does not
/// have (see the chapter "Fork and threads").
static FORKED_NAME: AtomicPtr<String> = AtomicPtr::new(std::ptr::null_mut());

/// The name of the main program or of a spawned worker, found on the command line.
static STARTED_NAME: OnceLock<String> = OnceLock::new();

/// True once a spawned worker has entered [`init`] and serves tasks.
static SERVING: AtomicBool = AtomicBool::new(false);

// ANCHOR: init
/// Turns a spawned worker into a worker; returns at once in every other process.
///
/// Call it near the top of `main`. A spawned worker executes the program from the
/// start, so everything in `main` before this call runs again in each spawned worker,
/// as a Python module's top level runs again in each spawned child (there named
/// `__mp_main__`). Everything after it is the analogue of `if __name__ == "__main__":`
/// and runs in the parent only. A forked worker never runs `main` at all: it is a copy
/// of the parent taken inside the pool.
///
/// Called inside a task, it panics: the task's worker already serves, and the pool
/// reports the panic in one line, under every start method.
pub fn init() {
    #[cfg(any(unix, windows))]
    if worker::is_serving() {
        panic!(
            "forkspawn::init() was called inside a task: call it once, at the top of main"
        );
    }
    let role = role();
    if let Role::Main = role {
        return;
    }
    SERVING.store(true, Ordering::Relaxed);
    #[cfg(unix)]
    unmute_harness_stdout();
    // A panic that escapes the worker's loop ends here: it must not unwind into `main`,
    // which would go on as if it were the parent.
    #[cfg(unix)]
    std::process::exit(worker::contain(|| match role {
        Role::Worker { name, parent } if die_with_parent(parent) => {
            worker::serve_spawned(&name)
        }
        Role::Server { parent } if die_with_parent(parent) => {
            worker::fork_server::serve()
        }
        _ => 1, // the parent is already gone
    }));
    #[cfg(windows)]
    std::process::exit(worker::contain(|| match role {
        Role::Worker {
            name,
            parent,
            channel,
        } if die_with_parent(parent) => worker::serve_spawned(&name, channel),
        _ => 1, // the parent is already gone, or no fork server starts on Windows
    }));
    #[cfg(not(any(unix, windows)))]
    {
        // No pool starts workers on this platform.
        eprintln!("this library starts no workers on this platform");
        std::process::exit(1)
    }
}
// ANCHOR_END: init

/// The name of this process, in Python's style: `MainProcess`, `ForkProcess-1`,
/// `SpawnProcess-2`, …
pub fn current_process_name() -> String {
    let forked = FORKED_NAME.load(Ordering::Acquire);
    if !forked.is_null() {
        // SAFETY: set once per process from a leaked `Box`, never freed.
        return unsafe { &*forked }.clone();
    }
    STARTED_NAME
        .get_or_init(|| match role() {
            Role::Main => "MainProcess".to_owned(),
            Role::Worker { name, .. } => name,
            Role::Server { .. } => SERVER_NAME.to_owned(),
        })
        .clone()
}

/// Names a forked worker, which inherited its parent's name. The parent allocates the
/// name before `fork()`; the child only stores a pointer: no lock, no allocation.
#[cfg(unix)]
#[allow(clippy::box_collection)] // a thin pointer, for one atomic store
pub(crate) fn set_forked_process_name(name: Box<String>) {
    FORKED_NAME.store(Box::into_raw(name), Ordering::Release);
}

/// True in a spawned worker whose `main` has not handed control to [`init`]: a program
/// that forgot to call it, and would otherwise start workers of its own, each of which
/// would do the same. (Python refuses in the same spot, with "An attempt has been made
/// to start a new process before the current process has finished its bootstrapping
/// phase".)
#[cfg(any(unix, windows))]
pub(crate) fn is_uninitialized_spawned_worker() -> bool {
    !matches!(role(), Role::Main) && !SERVING.load(Ordering::Relaxed)
}

/// The program's command line as the user gave it: a spawned worker's or a fork
/// server's starts with a flag and its arguments, which are taken out. Python's spawn
/// likewise hands the parent's `sys.argv` to the child.
pub fn program_args() -> Vec<OsString> {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let taken = marker().taken;
    if taken.end <= args.len() {
        args.drain(taken);
    }
    args
}

/// Asks the kernel to kill this process when the thread that started it ends, and checks
/// that the parent did not end before the request was made: a worker or a fork server
/// never outlives its parent. Linux only; elsewhere it only checks.
#[cfg(unix)]
pub(crate) fn die_with_parent(parent: u32) -> bool {
    #[cfg(target_os = "linux")]
    if nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).is_err() {
        return false;
    }
    u32::try_from(nix::unistd::getppid().as_raw()) == Ok(parent)
}

/// A spawned worker or a fork server runs `main` before `init()`, and that code may take
/// long. So that it never outlives its parent meanwhile, the parent-death signal is asked
/// for before `main` starts: glibc runs the functions listed in `.init_array` first, and
/// passes them the program's arguments (the standard library reads its own arguments the
/// same way). Only the flags this library put there are acted on. In a test binary, the
/// harness's words are muted there too (see [`mute_harness_stdout`]).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[unsafe(link_section = ".init_array")]
static BEFORE_MAIN: extern "C" fn(
    std::ffi::c_int,
    *const *const std::ffi::c_char,
    *const *const std::ffi::c_char,
) = before_main;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn before_main(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
    _environment: *const *const std::ffi::c_char,
) {
    let count = if argv.is_null() {
        0
    } else {
        usize::try_from(argc).unwrap_or(0)
    };
    // glibc's allocator, which Rust's uses, works before `main`.
    let words: Vec<&str> = (0..count)
        .map(|index| {
            // SAFETY: glibc passes `main`'s own `argc` and `argv`: `argc` valid C strings.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(index)) };
            arg.to_str().unwrap_or("")
        })
        .collect();
    let marker = read_marker(&words);
    let parent = match marker.role {
        Role::Main => return,
        Role::Worker { parent, .. } | Role::Server { parent } => parent,
    };
    if !die_with_parent(parent) {
        // The parent is gone already: nothing of `main` runs.
        // SAFETY: ends the process at once; nothing is left to clean up.
        unsafe { nix::libc::_exit(1) };
    }
    if marker.in_test_harness {
        mute_harness_stdout();
    }
}

/// The parent's standard output, set aside while a test binary's harness runs up to the
/// test that calls `init()`; -1 when none is.
#[cfg(unix)]
static HARNESS_STDOUT: AtomicI32 = AtomicI32::new(-1);

/// Gives a test binary's worker or fork server `/dev/null` as standard output until
/// `init()`, which puts the parent's back. The harness says "running 1 test" as it
/// starts, which would show among the parent's output once for each worker; no code of
/// the program runs before `init()` there, so nothing else goes unseen.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn mute_harness_stdout() {
    use nix::libc;
    // SAFETY: descriptor calls on descriptors this function owns, before `main`, on the
    // only thread.
    unsafe {
        let kept =
            libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, CHANNEL_FD + 1);
        if kept < 0 {
            return;
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if null >= 0 && libc::dup2(null, libc::STDOUT_FILENO) >= 0 {
            HARNESS_STDOUT.store(kept, Ordering::Relaxed);
        } else {
            libc::close(kept);
        }
        if null >= 0 {
            libc::close(null);
        }
    }
}

/// Puts back the standard output [`mute_harness_stdout`] set aside, if it did.
#[cfg(unix)]
fn unmute_harness_stdout() {
    let kept = HARNESS_STDOUT.swap(-1, Ordering::Relaxed);
    if kept < 0 {
        return;
    }
    // What the harness left in the buffer goes to `/dev/null` still.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // SAFETY: `kept` was set aside for this, and is closed once.
    unsafe {
        nix::libc::dup2(kept, nix::libc::STDOUT_FILENO);
        nix::libc::close(kept);
    }
}

/// How many of this process's threads are the test harness's: one in a test binary's
/// worker or fork server. libtest runs the test that calls `init()` on a thread of its
/// own, and its main thread waits on a channel for that test to end; with one test
/// thread (`--test-threads=1`) it does nothing else meanwhile, so it holds no lock a
/// fork could copy.
#[cfg(unix)]
pub(crate) fn harness_threads() -> usize {
    usize::from(marker().in_test_harness)
}

/// Windows has no parent-death signal, and a process is no one's child once started: the
/// worker opens its parent by pid and keeps a thread that waits for it to end, then ends
/// this process as abruptly as Linux's `SIGKILL` would, mid-task too. False if the parent
/// is already gone.
#[cfg(windows)]
pub(crate) fn die_with_parent(parent: u32) -> bool {
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, INFINITE, OpenProcess, PROCESS_SYNCHRONIZE,
        TerminateProcess, WaitForSingleObject,
    };
    // SAFETY: asks only for the right to wait on the process.
    let handle = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, parent) };
    if handle.is_null() {
        return false;
    }
    // A handle is a number the thread may carry; it is never closed, as the process ends
    // when the wait does.
    let handle = handle as usize;
    std::thread::Builder::new()
        .name("parent-watch".to_owned())
        .spawn(move || {
            // SAFETY: a handle opened above, and kept open; then this process ends.
            unsafe {
                WaitForSingleObject(handle as _, INFINITE);
                TerminateProcess(GetCurrentProcess(), 1);
            }
        })
        .is_ok()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_flag_first_marks_a_worker_and_only_its_arguments_are_the_launchers() {
        let marker =
            read_marker(&["prog", WORKER_FLAG, "SpawnProcess-1", "42", "--own"]);
        assert!(matches!(
            marker.role,
            Role::Worker { ref name, parent: 42 } if name == "SpawnProcess-1"
        ));
        assert_eq!(marker.taken, 1..4);
        assert!(!marker.in_test_harness);
    }

    #[test]
    fn the_flag_elsewhere_is_the_users() {
        let later =
            read_marker(&["prog", "--own", WORKER_FLAG, "SpawnProcess-1", "42"]);
        assert!(matches!(later.role, Role::Main));
        assert_eq!(later.taken, 1..1);
        // This test binary has no `test_support!`: the harness's arguments are the
        // user's, and so is the flag after them.
        let mut args = vec!["prog", "forkspawn_test_support"];
        args.extend(HARNESS_ARGS);
        args.extend([SERVER_FLAG, "42"]);
        assert!(matches!(read_marker(&args).role, Role::Main));
    }
}
