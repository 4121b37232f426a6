//! Writing to standard output and standard error without the locks of `std::io`.
//!
//! `println!` and `eprintln!` take a lock that every thread of the process shares. A
//! forked child has one thread, the one that called `fork()`; if another thread of the
//! parent held that lock at that moment, the child inherits it held, by a thread that no
//! longer exists, and its first `println!` waits forever. `write(2)` takes no lock and
//! is async-signal-safe (signal-safety(7)), so what the library itself prints in a worker
//! goes through here. One call per line also keeps lines of different processes from
//! interleaving within a line.

use std::io;
#[cfg(unix)]
use std::os::fd::BorrowedFd;

/// Writes all of `bytes` to standard output.
pub(crate) fn write_stdout(bytes: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    return write_all(standard(nix::libc::STDOUT_FILENO), bytes);
    // Elsewhere there is no fork, and so no inherited lock: `std::io` will do.
    #[cfg(not(unix))]
    return io::Write::write_all(&mut io::stdout().lock(), bytes);
}

/// Writes all of `bytes` to standard error; a failure has nowhere to be reported.
pub(crate) fn write_stderr(bytes: &[u8]) {
    #[cfg(unix)]
    let _ = write_all(standard(nix::libc::STDERR_FILENO), bytes);
    #[cfg(not(unix))]
    let _ = io::Write::write_all(&mut io::stderr().lock(), bytes);
}

/// A standard descriptor by number: `std::io::stdout()` would set up the stream's buffer
/// (an allocation) the first time it is called.
#[cfg(unix)]
fn standard(fd: std::os::fd::RawFd) -> BorrowedFd<'static> {
    // SAFETY: the standard descriptors are only written to; a program that closed one
    // gets EBADF back, not a crash.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Writes all of `bytes` to `fd` with `write(2)`, retrying after a signal.
#[cfg(unix)]
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    use nix::errno::Errno;
    while !bytes.is_empty() {
        match nix::unistd::write(fd, bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => bytes = &bytes[written..],
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    }
    Ok(())
}
