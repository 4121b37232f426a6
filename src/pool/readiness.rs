//! Waiting on several workers' channels at once, until one has something to read or a
//! deadline passes: `poll(2)` on Unix, its Windows twin `WSAPoll` on Windows.

use std::io;
use std::time::Instant;

use crate::worker::channel::Channel;

/// Waits until one of `channels` has something to read (a message, or end-of-file) or
/// `deadline` passes, and says which are readable. A signal that interrupts the wait is
/// an `Interrupted` error: the caller decides whether to wait again.
pub(super) fn readable(
    channels: &[&Channel],
    deadline: Instant,
) -> io::Result<Vec<bool>> {
    #[cfg(unix)]
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut fds: Vec<PollFd> = channels
            .iter()
            .map(|channel| PollFd::new(channel.as_fd(), PollFlags::POLLIN))
            .collect();
        let millis =
            PollTimeout::try_from(millis_until(deadline)).unwrap_or(PollTimeout::MAX);
        poll(&mut fds, millis)?;
        Ok(fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
            .collect())
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::{AsRawSocket, AsSocket};
        use windows_sys::Win32::Networking::WinSock::{
            POLLRDNORM, SOCKET_ERROR, WSAGetLastError, WSAPOLLFD, WSAPoll,
        };
        let mut fds: Vec<WSAPOLLFD> = channels
            .iter()
            .map(|channel| WSAPOLLFD {
                fd: channel.as_socket().as_raw_socket() as usize,
                events: POLLRDNORM,
                revents: 0,
            })
            .collect();
        let millis = i32::try_from(millis_until(deadline)).unwrap_or(i32::MAX);
        // SAFETY: `fds` is a valid array of its length for the duration of the call.
        let polled = unsafe { WSAPoll(fds.as_mut_ptr(), fds.len() as u32, millis) };
        if polled == SOCKET_ERROR {
            // SAFETY: reads this thread's last Windows Sockets error.
            return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
        }
        // End-of-file or a reset shows as POLLHUP or POLLERR: readable too, as on Unix.
        Ok(fds.iter().map(|fd| fd.revents != 0).collect())
    }
}

/// The time left until `deadline` in milliseconds, rounded up so that the wait never
/// ends before it.
fn millis_until(deadline: Instant) -> u128 {
    let left = deadline.saturating_duration_since(Instant::now());
    left.as_nanos().div_ceil(1_000_000)
}
