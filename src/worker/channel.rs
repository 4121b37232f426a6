//! The pipe between the pool and one worker: a connected pair of sockets carrying one
//! message a frame — a 4-byte length, then the message in CBOR. On Unix the pair is a
//! Unix socket pair; Windows has none, so there it is a TCP connection on the loopback
//! interface (see `loopback.rs`).
//!
//! A forked worker inherits a copy of *every* descriptor of its parent, the other
//! workers' sockets included. A worker holding a sibling's socket keeps that sibling
//! from ever seeing end-of-file, so the pool could never shut it down. Every socket
//! made here is therefore listed from the moment it exists (`descriptors.rs`), and a
//! forked worker closes all of them but its own.

use std::io::{self, BufReader, Read, Write};
#[cfg(windows)]
use std::mem::ManuallyDrop;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(windows)]
use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket, FromRawSocket};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// What the pool asks of a worker.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Request {
    /// Run the task (or initializer) of this name on each of these inputs, in order,
    /// each encoded in CBOR. `id` counts the requests sent on this channel; the reply
    /// carries it back. Several inputs make a chunk: one round trip for all of them.
    Run {
        id: u64,
        task: String,
        inputs: Vec<Bytes>,
    },
}

/// What became of one input of a request.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Outcome {
    /// The task's result, encoded in CBOR.
    Value(Bytes),
    /// The task panicked with this message; the worker caught it and serves on.
    Panicked(String),
    /// The task could not be run on it: an input that does not decode, a result that
    /// does not encode.
    Failed(String),
}

/// What a worker says. `Ready` once, first; then, for each request in the order they
/// came, one `Done` or `Refused` carrying the request's `id`, perhaps after `Panicking`
/// notes for it. A message about any other request (a process a task forked talking
/// too) is seen as such, never taken as an answer.
#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Reply {
    Ready,
    /// One outcome per input of request `id`, in order.
    Done {
        id: u64,
        outcomes: Vec<Outcome>,
    },
    /// The input at `item` of request `id` is panicking with `message`: sent by the panic
    /// hook as it happens, so that the pool has the message even if the panic then ends
    /// the process (`panic = "abort"`, or a second panic while unwinding).
    Panicking {
        id: u64,
        item: u32,
        message: String,
    },
    /// The request could not be run at all: no task of that name in this program.
    Refused {
        id: u64,
        reason: String,
    },
}

impl Reply {
    /// The request this is about; `None` for `Ready`, which is about none.
    pub(crate) fn id(&self) -> Option<u64> {
        match self {
            Reply::Ready => None,
            Reply::Done { id, .. }
            | Reply::Panicking { id, .. }
            | Reply::Refused { id, .. } => Some(*id),
        }
    }
}

pub(crate) use crate::worker::wire::Bytes;

/// One message as a frame: its length, then the message, in one buffer, so that it is
/// written in one call and never interleaved with another.
///
/// A message that cannot be framed (too large, or its `Serialize` failed) is an
/// `InvalidInput` error: nothing was sent.
pub(crate) fn frame<T: Serialize>(message: &T) -> io::Result<Vec<u8>> {
    let invalid = |e: &dyn std::fmt::Display| {
        io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
    };
    let mut framed = crate::worker::wire::encode_into(message, vec![0; 4])
        .map_err(|e| invalid(&e))?;
    // Within the wire's limit by then; the header itself counts against it.
    let length = u32::try_from(framed.len() - 4).map_err(|e| invalid(&e))?;
    framed[..4].copy_from_slice(&length.to_le_bytes());
    Ok(framed)
}

/// A connected socket: a Unix socket on Unix, a loopback TCP connection on Windows.
#[cfg(unix)]
pub(crate) type Stream = UnixStream;
#[cfg(windows)]
pub(crate) type Stream = std::net::TcpStream;

/// A channel as a bare number, for the panic hook, which writes to it without the
/// `Channel` that owns it: a descriptor on Unix, a socket handle on Windows.
#[cfg(unix)]
pub(crate) type RawChannel = RawFd;
#[cfg(windows)]
pub(crate) type RawChannel = std::os::windows::io::RawSocket;

/// A socket as the pool holds it: on Unix, listed for as long as it is open.
#[cfg(unix)]
type Held = crate::worker::descriptors::Listed<Stream>;
#[cfg(windows)]
type Held = Stream;

/// A pool socket; on Unix, listed for as long as it is open, so that no forked worker
/// keeps it.
#[derive(Debug)]
pub(crate) struct PoolSocket(Held);

impl PoolSocket {
    /// A socket this process found or received (a spawned worker's channel, one a fork
    /// server was sent), listed now.
    fn new(stream: Stream) -> Self {
        #[cfg(unix)]
        return PoolSocket(crate::worker::descriptors::adopt(stream));
        #[cfg(windows)]
        return PoolSocket(stream);
    }

    /// Any socket of the pool's that came from elsewhere: a fork server's channel to its
    /// pool, or a channel received from that pool.
    #[cfg(unix)]
    pub(crate) fn from_fd(fd: OwnedFd) -> Self {
        PoolSocket::new(UnixStream::from(fd))
    }

    fn stream(&self) -> &Stream {
        &self.0
    }

    /// A socket listed from the moment it was made (`descriptors::make`).
    #[cfg(unix)]
    pub(crate) fn from_listed(fd: crate::worker::descriptors::Listed<OwnedFd>) -> Self {
        PoolSocket(fd.map(UnixStream::from))
    }
}

#[cfg(unix)]
impl AsFd for PoolSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(windows)]
impl AsSocket for PoolSocket {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.0.as_socket()
    }
}

impl io::Read for PoolSocket {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.0.read(buffer)
    }
}

/// Makes a connected pair: the pool keeps the [`Channel`], the worker gets the other
/// end. On the pool's end no read or write blocks longer than `timeout`: the worker's end
/// waits for requests as long as the pool lives.
pub(crate) fn pair(timeout: Duration) -> io::Result<(Channel, PoolSocket)> {
    #[cfg(unix)]
    let (pool_end, worker_end) =
        crate::worker::descriptors::make_pair(UnixStream::pair)?;
    #[cfg(windows)]
    let (pool_end, worker_end) = crate::worker::loopback::pair()?;
    // Zero would mean "no limit" to the kernel.
    let timeout = Some(timeout.max(Duration::from_millis(1)));
    pool_end.set_read_timeout(timeout)?;
    pool_end.set_write_timeout(timeout)?;
    Ok((Channel::new(PoolSocket(pool_end)), PoolSocket(worker_end)))
}

/// One end of a worker's socket, read a line at a time.
#[derive(Debug)]
pub(crate) struct Channel {
    socket: BufReader<PoolSocket>,
}

impl Channel {
    fn new(socket: PoolSocket) -> Self {
        // Messages are short. A small buffer matters in a forked worker, where every page
        // it writes for the first time is a page fault and a copy.
        Channel {
            socket: BufReader::with_capacity(512, socket),
        }
    }

    /// The worker's side: its end of the pair, received by fork or at start.
    pub(crate) fn from_stream(stream: Stream) -> Self {
        Channel::new(PoolSocket::new(stream))
    }

    #[cfg(unix)]
    pub(crate) fn from_socket(socket: PoolSocket) -> Self {
        Channel::new(socket)
    }

    /// Sends one message as one frame, in one write, so that it is never interleaved.
    pub(crate) fn send<T: Serialize>(&mut self, message: &T) -> io::Result<()> {
        self.socket.get_ref().stream().write_all(&frame(message)?)
    }

    /// Receives one message; `None` when the other end is closed between messages.
    pub(crate) fn receive<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        let mut length = [0; 4];
        match self.socket.read_exact(&mut length) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let mut message = vec![0; u32::from_le_bytes(length) as usize];
        self.socket.read_exact(&mut message)?;
        crate::worker::wire::decode_slice(&message)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }

    /// Tells the other end that nothing more will be sent: it reads end-of-file, while
    /// this end can still read what it sends, and its own end-of-file.
    pub(crate) fn close_for_writing(&self) {
        let _ = self
            .socket
            .get_ref()
            .stream()
            .shutdown(std::net::Shutdown::Write);
    }

    /// True when a message has already been read from the socket but not yet received,
    /// so that `poll` would not report it.
    pub(crate) fn has_buffered_input(&self) -> bool {
        !self.socket.buffer().is_empty()
    }

    /// The channel as a bare number, for [`write_raw`].
    pub(crate) fn raw(&self) -> RawChannel {
        #[cfg(unix)]
        return self.socket.get_ref().stream().as_raw_fd();
        #[cfg(windows)]
        return self.socket.get_ref().stream().as_raw_socket();
    }
}

/// Writes all of `bytes` to a channel known by its number, taking no lock: what a panic
/// hook may do, wherever the serving loop was.
pub(crate) fn write_raw(channel: RawChannel, bytes: &[u8]) -> io::Result<()> {
    // SAFETY (both): the channel stays open while the worker serves, and is only written
    // to here, never closed.
    #[cfg(unix)]
    return crate::worker::unlocked_io::write_all(
        unsafe { BorrowedFd::borrow_raw(channel) },
        bytes,
    );
    // `send` on a socket takes no lock in the standard library.
    #[cfg(windows)]
    return ManuallyDrop::new(unsafe { Stream::from_raw_socket(channel) })
        .write_all(bytes);
}

#[cfg(unix)]
impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.get_ref().as_fd()
    }
}

#[cfg(windows)]
impl AsSocket for Channel {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        self.socket.get_ref().as_socket()
    }
}
