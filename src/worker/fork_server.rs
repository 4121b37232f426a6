//! The fork server: a process that does nothing but fork workers when asked.
//!
//! It is this program executed again, like a spawned worker, with a flag of its own: it
//! runs `main` up to `forkspawn::init()`, then serves here. It has one thread, so its
//! forks copy no lock held by another, and it is small: a worker forked from it shares
//! the server's memory, not the parent's.
//!
//! The pool talks to it over a socket pair it was given at start, as descriptor 3.
//! No other process can connect to that socket, so, unlike CPython's fork server, which
//! listens on a file in a temporary directory, it needs no authentication key. Each
//! request to fork carries the new worker's channel, passed with `SCM_RIGHTS`. The
//! server answers with the worker's pid; the worker is the server's child, not the
//! pool's, so the pool also asks the server to reap it. (CPython's server reaps on
//! `SIGCHLD` instead, and writes each exit status into a pipe the pool holds per worker.)

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg,
};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::worker::bootstrap::SERVER_NAME;
use crate::worker::channel::PoolSocket;
use crate::worker::error::{PoolError, WorkerExit};
use crate::worker::fork::{ForkSpec, fork_worker};
use crate::worker::threads::ThreadedFork;
use crate::worker::{self, unlocked_io};

// ANCHOR: protocol
/// What the pool asks of its fork server.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum ServerRequest {
    /// Fork a worker that serves the channel sent along with this message.
    Fork {
        name: String,
        env_remove: Vec<String>,
        threaded_fork: ThreadedFork,
    },
    /// Reap this worker: wait for it to end if `block`, otherwise only look.
    Wait { pid: i32, block: bool },
}

/// What the fork server answers, one reply per request.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum ServerReply {
    Forked {
        pid: i32,
    },
    /// It would not fork: it has this many threads, and the pool refuses that.
    Refused {
        threads: Option<usize>,
    },
    /// `None` while the worker still runs.
    Exited {
        exit: Option<WorkerExit>,
    },
    Failed {
        error: String,
    },
}
// ANCHOR_END: protocol

/// The largest message either side sends: a name and a few variable names.
const MAX_MESSAGE: usize = 64 * 1024;

// ANCHOR: send
/// Sends one message as one packet (the socket keeps packets apart), with `fd` attached
/// as `SCM_RIGHTS`: the receiver gets a descriptor of its own for the same socket.
pub(crate) fn send(
    socket: BorrowedFd<'_>,
    message: &impl Serialize,
    fd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let bytes = serde_json::to_vec(message)?;
    let fds = fd.map(|fd| [fd.as_raw_fd()]);
    let rights: Vec<ControlMessage> = fds
        .iter()
        .map(|fds| ControlMessage::ScmRights(fds))
        .collect();
    let sent = sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(&bytes)],
        &rights,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )?;
    match sent == bytes.len() {
        true => Ok(()),
        false => Err(io::ErrorKind::WriteZero.into()),
    }
}
// ANCHOR_END: send

/// Receives one message and the descriptor sent with it, if any; `None` when the other
/// end is closed.
pub(crate) fn receive<T: DeserializeOwned>(
    socket: BorrowedFd<'_>,
) -> io::Result<Option<(T, Option<OwnedFd>)>> {
    let mut bytes = vec![0; MAX_MESSAGE];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (length, fd) = loop {
        let mut buffer = [IoSliceMut::new(&mut bytes)];
        match recvmsg::<()>(
            socket.as_raw_fd(),
            &mut buffer,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(message) => {
                let fd = message.cmsgs()?.find_map(|cmsg| match cmsg {
                    // SAFETY: the kernel has just made this descriptor for this process.
                    ControlMessageOwned::ScmRights(fds) => {
                        fds.first().map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
                    }
                    _ => None,
                });
                break (message.bytes, fd);
            }
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(errno.into()),
        }
    };
    if length == 0 {
        return Ok(None);
    }
    Ok(Some((serde_json::from_slice(&bytes[..length])?, fd)))
}

// ANCHOR: serve
/// The server's life, from `init()`: answer requests until the parent closes its end
/// (`ForkServer::stop`, or the end of its thread or of the program, once its pools are
/// gone).
pub(crate) fn serve() -> i32 {
    // A program that ignores SIGCHLD would have its workers reaped by the kernel; the
    // server reaps them itself, for the pool.
    // SAFETY: the default disposition installs no handler.
    unsafe {
        let _ = signal(Signal::SIGCHLD, SigHandler::SigDfl);
    }
    // Installed once here, so that every worker forked from the server has it.
    worker::install_panic_hook();
    let control = match worker::take_channel() {
        Ok(control) => PoolSocket::from_fd(control),
        Err(error) => return complain(&error),
    };
    loop {
        let (request, fd) = match receive::<ServerRequest>(control.as_fd()) {
            Ok(Some(message)) => message,
            Ok(None) => return 0, // the parent let the server go, or is gone
            Err(error) => return complain(&error),
        };
        let reply = match request {
            ServerRequest::Fork {
                name,
                env_remove,
                threaded_fork,
            } => fork(&name, &env_remove, threaded_fork, fd),
            ServerRequest::Wait { pid, block } => reap(pid, block),
        };
        if let Err(error) = send(control.as_fd(), &reply, None) {
            return complain(&error);
        }
    }
}

fn fork(
    name: &str,
    env_remove: &[String],
    threaded_fork: ThreadedFork,
    channel: Option<OwnedFd>,
) -> ServerReply {
    let Some(channel) = channel else {
        return ServerReply::Failed {
            error: "no channel came with the request".to_owned(),
        };
    };
    let spec = ForkSpec {
        name,
        env_remove,
        threaded_fork,
    };
    match fork_worker(&spec, PoolSocket::from_fd(channel)) {
        Ok(pid) => ServerReply::Forked { pid: pid.as_raw() },
        Err(PoolError::ThreadedFork { threads, .. }) => {
            ServerReply::Refused { threads }
        }
        Err(PoolError::Launch { source, .. }) => ServerReply::Failed {
            error: source.to_string(),
        },
        Err(error) => ServerReply::Failed {
            error: error.to_string(),
        },
    }
}
// ANCHOR_END: serve

fn reap(pid: i32, block: bool) -> ServerReply {
    let flags = (!block).then_some(WaitPidFlag::WNOHANG);
    loop {
        let exit = match waitpid(Pid::from_raw(pid), flags) {
            Ok(WaitStatus::Exited(_, code)) => Some(WorkerExit::Code(code)),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                Some(WorkerExit::Signal(signal as i32))
            }
            Ok(WaitStatus::StillAlive) => None,
            Ok(_) | Err(Errno::EINTR) => continue, // stopped, continued, interrupted
            Err(errno) => {
                return ServerReply::Failed {
                    error: errno.to_string(),
                };
            }
        };
        return ServerReply::Exited { exit };
    }
}

fn complain(error: &io::Error) -> i32 {
    let line = format!("{SERVER_NAME}: lost the channel to the pool: {error}\n");
    unlocked_io::write_stderr(line.as_bytes());
    1
}
