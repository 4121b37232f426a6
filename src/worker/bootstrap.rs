//! How a process learns what it is: the main program, a forked worker, a spawned worker,
//! or a fork server.

use std::ffi::OsString;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

#[cfg(any(unix, windows))]
use crate::worker;

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

fn role() -> Role {
    let args: Vec<OsString> = std::env::args_os().skip(1).take(4).collect();
    let text = |i: usize| args.get(i).and_then(|a| a.to_str());
    let pid = |i: usize| text(i).and_then(|p| p.parse().ok());
    #[cfg(windows)]
    let channel = match text(3).and_then(|c| c.parse().ok()) {
        Some(channel) => channel,
        None => return Role::Main,
    };
    match (text(0), text(1), pid(2)) {
        (Some(WORKER_FLAG), Some(name), Some(parent)) => Role::Worker {
            name: name.to_owned(),
            parent,
            #[cfg(windows)]
            channel,
        },
        (Some(SERVER_FLAG), _, _) => {
            pid(1).map_or(Role::Main, |parent| Role::Server { parent })
        }
        _ => Role::Main,
    }
}

/// How many arguments of the command line the role took, after the program's name.
fn role_args() -> usize {
    match role() {
        Role::Main => 0,
        Role::Worker { .. } => 1 + WORKER_ARGS,
        Role::Server { .. } => 2,
    }
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
    let end = (1 + role_args()).min(args.len());
    if end > 1 {
        args.drain(1..end);
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
/// same way). Only the flags this library put there are acted on.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[unsafe(link_section = ".init_array")]
static DIE_WITH_PARENT_BEFORE_MAIN: extern "C" fn(
    std::ffi::c_int,
    *const *const std::ffi::c_char,
    *const *const std::ffi::c_char,
) = die_with_parent_before_main;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn die_with_parent_before_main(
    argc: std::ffi::c_int,
    argv: *const *const std::ffi::c_char,
    _environment: *const *const std::ffi::c_char,
) {
    let arg = |index: usize| -> &[u8] {
        if argv.is_null() || index >= usize::try_from(argc).unwrap_or(0) {
            return b"";
        }
        // SAFETY: glibc passes `main`'s own `argc` and `argv`: `argc` valid C strings.
        unsafe { std::ffi::CStr::from_ptr(*argv.add(index)).to_bytes() }
    };
    let parent_at = match arg(1) {
        flag if flag == WORKER_FLAG.as_bytes() => 3,
        flag if flag == SERVER_FLAG.as_bytes() => 2,
        _ => return,
    };
    let parent = std::str::from_utf8(arg(parent_at))
        .ok()
        .and_then(|p| p.parse().ok());
    if let Some(parent) = parent
        && !die_with_parent(parent)
    {
        // The parent is gone already: nothing of `main` runs.
        // SAFETY: ends the process at once; nothing is left to clean up.
        unsafe { nix::libc::_exit(1) };
    }
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
