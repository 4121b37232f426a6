//! Starting this program again, for a spawned worker or a fork server, with exactly the
//! descriptors it should have: its standard streams, as the parent's are, and its channel
//! to the pool as descriptor [`CHANNEL_FD`]. Nothing else crosses, not even a descriptor
//! the parent received without close-on-exec from the shell that started it — what
//! CPython's spawn does with `close_fds=True` and `pass_fds`.
//!
//! `std::process::Command` cannot put a descriptor at a chosen number or close the rest
//! without a `pre_exec` hook, which makes it fork instead of `posix_spawn`, at a cost that
//! grows with the parent's memory. So this calls `posix_spawn(3)` itself, with two file
//! actions: `dup2` the channel to [`CHANNEL_FD`], and close every descriptor above it.
//!
//! What is executed is the running image itself, `/proc/self/exe` on Linux, not the path
//! it was started from: once that file is replaced or unlinked (a rebuild, an upgrade),
//! the path names another program, or one that a third party planted under the name
//! `current_exe()` then reports (`… (deleted)`).

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;
use nix::unistd::Pid;

use crate::worker::bootstrap::{self, CHANNEL_FD};
use crate::worker::descriptors;

// ANCHOR: spawn
/// Executes this program again with `flag_args` and the parent's own arguments, the
/// environment without `env_remove`, and `channel` as descriptor [`CHANNEL_FD`].
pub(crate) fn spawn_this_program(
    flag_args: &[&str],
    env_remove: &[String],
    channel: BorrowedFd<'_>,
) -> io::Result<Pid> {
    // The running executable itself, not `argv[0]` (which may be any string) nor a search
    // of PATH (which may find another program), nor the path it was started from.
    let image = RunningImage::find()?;
    let mut args = vec![image.shown.clone()];
    // The flags, then the parent's own command line (in a test binary, the harness's
    // arguments that lead to `init()`).
    for arg in bootstrap::relaunch_args(flag_args) {
        args.push(c_string(arg)?);
    }
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        if !env_remove.iter().any(|removed| name == removed.as_str()) {
            let mut entry = name;
            entry.push("=");
            entry.push(value);
            env.push(c_string(entry)?);
        }
    }
    // Moved out of the way first: were the channel descriptor 3 already, `dup2` onto
    // itself would leave it close-on-exec. Listed as it is made: a fork on another
    // thread must not copy it.
    let channel = descriptors::make(|| {
        let copy = fcntl(channel, FcntlArg::F_DUPFD_CLOEXEC(CHANNEL_FD + 1))?;
        // SAFETY: just made, owned here.
        Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(copy) })
    })?;
    let actions = FileActions::new()?;
    actions.dup2(channel.as_fd(), CHANNEL_FD)?;
    actions.close_from(CHANNEL_FD + 1)?;
    spawn(&image.executed, &args, &env, &actions).map_err(|error| image.failed(error))
}
// ANCHOR_END: spawn

/// The program this process is running, as it is executed again and as it is shown.
struct RunningImage {
    /// What `posix_spawn` opens: the image itself where the system names it.
    executed: CString,
    /// What the new process sees as `argv[0]`: the path the image was started from.
    shown: CString,
}

impl RunningImage {
    /// On Linux the image is `/proc/self/exe`, and the path it was started from is only
    /// shown: it may be gone, and so may `/proc`, which the error then names.
    #[cfg(target_os = "linux")]
    fn find() -> io::Result<RunningImage> {
        let executed = c"/proc/self/exe".to_owned();
        let shown = match std::env::current_exe() {
            Ok(path) => c_string(path.into_os_string())?,
            Err(_) => executed.clone(),
        };
        Ok(RunningImage { executed, shown })
    }

    /// Elsewhere there is no name for the image itself: the path is the best there is.
    #[cfg(not(target_os = "linux"))]
    fn find() -> io::Result<RunningImage> {
        let shown = c_string(std::env::current_exe()?.into_os_string())?;
        Ok(RunningImage {
            executed: shown.clone(),
            shown,
        })
    }

    /// The error of a start that failed, naming what was executed and what it is.
    fn failed(&self, error: io::Error) -> io::Error {
        let executed = self.executed.to_string_lossy();
        let shown = self.shown.to_string_lossy();
        let what = match executed == shown {
            true => format!("cannot execute this program again ({executed})"),
            false => format!(
                "cannot execute this program again ({executed}, the image of {shown})"
            ),
        };
        let hint = match (cfg!(target_os = "linux"), error.kind()) {
            (true, io::ErrorKind::NotFound) => "; is /proc mounted?",
            _ => "",
        };
        io::Error::new(error.kind(), format!("{what}: {error}{hint}"))
    }
}

fn c_string(text: OsString) -> io::Result<CString> {
    CString::new(text.into_vec())
        .map_err(|_| io::Error::other("an argument holds a NUL byte"))
}

fn spawn(
    program: &std::ffi::CStr,
    args: &[CString],
    env: &[CString],
    actions: &FileActions,
) -> io::Result<Pid> {
    let pointers = |strings: &[CString]| -> Vec<*mut libc::c_char> {
        let mut pointers: Vec<*mut libc::c_char> =
            strings.iter().map(|s| s.as_ptr().cast_mut()).collect();
        pointers.push(std::ptr::null_mut());
        pointers
    };
    let (argv, envp) = (pointers(args), pointers(env));
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer is to a NUL-terminated string that outlives the call, and
    // both arrays end with a null pointer.
    let error = unsafe {
        libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            &actions.0,
            std::ptr::null(),
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    match error {
        0 => Ok(Pid::from_raw(pid)),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// `posix_spawn_file_actions_t`, destroyed when dropped.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<FileActions> {
        // SAFETY: initialised by the call below before any other use.
        let mut actions = unsafe { std::mem::zeroed() };
        check(unsafe { libc::posix_spawn_file_actions_init(&mut actions) })?;
        Ok(FileActions(actions))
    }

    fn dup2(&self, fd: BorrowedFd<'_>, to: i32) -> io::Result<()> {
        let actions = (&raw const self.0).cast_mut();
        // SAFETY: an initialised set of actions, and a descriptor open for the call.
        check(unsafe {
            libc::posix_spawn_file_actions_adddup2(actions, fd.as_raw_fd(), to)
        })
    }

    /// Closes every descriptor from `from` up (glibc 2.34). Elsewhere, descriptors the
    /// library opens are close-on-exec anyway; only strays from outside could cross.
    fn close_from(&self, from: i32) -> io::Result<()> {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            let actions = (&raw const self.0).cast_mut();
            // SAFETY: an initialised set of actions.
            check(unsafe {
                libc::posix_spawn_file_actions_addclosefrom_np(actions, from)
            })
        }
        #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
        {
            let _ = from;
            Ok(())
        }
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

fn check(result: i32) -> io::Result<()> {
    match result {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
