//! Waiting on several workers at once, until one has something to read on its channel,
//! or has ended, or a deadline passes: `poll(2)` on Unix, its Windows twin `WSAPoll` on
//! Windows (channels only: it waits on nothing else).

use std::io;
use std::time::Instant;

use crate::worker::channel::Channel;

/// One worker as the pool watches it: its channel and, where the system has one, the
/// descriptor that says it has ended.
pub(super) struct Watched<'a> {
    pub(super) channel: &'a Channel,
    #[cfg(unix)]
    pub(super) exit: Option<std::os::fd::BorrowedFd<'a>>,
}

/// What the wait saw of one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    Nothing,
    /// A message, or end-of-file, to read on its channel.
    Readable,
    /// It has ended, and its channel had nothing to read when it was looked at.
    #[cfg_attr(windows, allow(dead_code))] // WSAPoll waits on sockets only
    Ended,
}

/// Waits until one of `watched` has something to read (a message, or end-of-file) or has
/// ended, or `deadline` passes, and says what it saw of each. A signal that interrupts
/// the wait is an `Interrupted` error: the caller decides whether to wait again.
pub(super) fn wait(
    watched: &[Watched<'_>],
    deadline: Instant,
) -> io::Result<Vec<Seen>> {
    #[cfg(unix)]
    {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut fds: Vec<PollFd> = Vec::with_capacity(2 * watched.len());
        for worker in watched {
            fds.push(PollFd::new(worker.channel.as_fd(), PollFlags::POLLIN));
            if let Some(exit) = worker.exit {
                fds.push(PollFd::new(exit, PollFlags::POLLIN));
            }
        }
        let millis =
            PollTimeout::try_from(millis_until(deadline)).unwrap_or(PollTimeout::MAX);
        poll(&mut fds, millis)?;
        let fired = |fd: &PollFd| fd.revents().is_some_and(|events| !events.is_empty());
        let mut polled = fds.iter();
        Ok(watched
            .iter()
            .map(|worker| {
                let channel = polled.next().is_some_and(fired);
                let ended = worker.exit.is_some() && polled.next().is_some_and(fired);
                match (channel, ended) {
                    (true, _) => Seen::Readable,
                    // What it wrote just before it ended may have come after its channel
                    // was looked at: looked at again, now that it can write no more.
                    (false, true) if channel_is_readable(worker.channel) => {
                        Seen::Readable
                    }
                    (false, true) => Seen::Ended,
                    (false, false) => Seen::Nothing,
                }
            })
            .collect())
    }
    #[cfg(windows)]
    {
        use std::os::windows::io::{AsRawSocket, AsSocket};
        use windows_sys::Win32::Networking::WinSock::{
            POLLRDNORM, SOCKET_ERROR, WSAGetLastError, WSAPOLLFD, WSAPoll,
        };
        let mut fds: Vec<WSAPOLLFD> = watched
            .iter()
            .map(|worker| WSAPOLLFD {
                fd: worker.channel.as_socket().as_raw_socket() as usize,
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
        Ok(fds
            .iter()
            .map(|fd| match fd.revents != 0 {
                true => Seen::Readable,
                false => Seen::Nothing,
            })
            .collect())
    }
}

/// Whether `channel` has something to read now, without waiting.
#[cfg(unix)]
fn channel_is_readable(channel: &Channel) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(channel.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, PollTimeout::ZERO) {
            Err(nix::errno::Errno::EINTR) => continue,
            polled => {
                return polled.is_ok()
                    && fds[0].revents().is_some_and(|events| !events.is_empty());
            }
        }
    }
}

/// The time left until `deadline` in milliseconds, rounded up so that the wait never
/// ends before it.
fn millis_until(deadline: Instant) -> u128 {
    let left = deadline.saturating_duration_since(Instant::now());
    left.as_nanos().div_ceil(1_000_000)
}
