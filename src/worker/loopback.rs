//! Windows: a channel between two processes, made of a loopback TCP connection, and how a
//! spawned worker receives its end.
//!
//! Windows has no `socketpair(2)`, and the pool needs sockets rather than pipes: it
//! waits on all its workers at once with `WSAPoll`, which takes sockets only (an
//! anonymous pipe cannot be waited on with a deadline). So the pair is made by connecting
//! to a listener on 127.0.0.1 inside this process, and checked: the accepted connection
//! must come from the very socket this process connected, or it is someone else's and
//! is dropped. No port stays open: the listener is closed once the pair is made.
//!
//! The worker gets its end the way Windows passes a handle to a child on purpose: the
//! handle is made inheritable just before the child is created, its number goes on the
//! child's command line, and the parent closes its copy at once. (CPython's
//! `popen_spawn_win32.py` also puts a pipe handle's number on the command line, but its
//! child copies the handle out of the parent with `DuplicateHandle`, so the parent keeps
//! its copy until then, and cannot take the pipe's end-of-file as a sign of the child's
//! death.) The child then makes the inherited handle a socket of its own with
//! `WSADuplicateSocketW`, Winsock's way of sharing a socket between processes; Wine's
//! Winsock, which knows only the sockets its own process made, needs that step.

use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::windows::io::{AsRawSocket, AsSocket, FromRawSocket, RawSocket};

use windows_sys::Win32::Foundation::{
    CloseHandle, HANDLE, HANDLE_FLAG_INHERIT, SetHandleInformation,
};
use windows_sys::Win32::Networking::WinSock::{
    FROM_PROTOCOL_INFO, INVALID_SOCKET, WSA_FLAG_NO_HANDLE_INHERIT,
    WSA_FLAG_OVERLAPPED, WSADATA, WSADuplicateSocketW, WSAGetLastError,
    WSAPROTOCOL_INFOW, WSASocketW, WSAStartup, closesocket,
};

// ANCHOR: pair
/// A connected pair of loopback sockets: the pool's end first.
pub(crate) fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let worker_end = TcpStream::connect(listener.local_addr()?)?;
    let expected = worker_end.local_addr()?;
    let pool_end = loop {
        // Another local program may connect first: its connection is not ours.
        let (stream, peer) = listener.accept()?;
        if peer == expected {
            break stream;
        }
    };
    // A request and its reply are one small write each: send them at once, rather than
    // let Nagle's algorithm hold one back waiting for an acknowledgement.
    pool_end.set_nodelay(true)?;
    worker_end.set_nodelay(true)?;
    Ok((pool_end, worker_end))
}
// ANCHOR_END: pair

/// Lets the next child this process creates inherit `socket`, and returns its number
/// for the child's command line. Standard library sockets are made not inheritable; a
/// child created meanwhile by another thread would inherit it too, until the caller
/// closes its copy right after the spawn.
pub(crate) fn inheritable(socket: impl AsSocket) -> io::Result<RawSocket> {
    let raw = socket.as_socket().as_raw_socket();
    set_inherit(raw)?;
    Ok(raw)
}

/// In the spawned worker: takes the socket inherited as `inherited`, as a socket of this
/// process that what it starts does not inherit, and closes the inherited handle.
pub(crate) fn take_inherited(inherited: RawSocket) -> io::Result<TcpStream> {
    start_winsock()?;
    // SAFETY: `info` is a valid place for the answer; `inherited` was put in this process
    // by the parent, and is duplicated, then closed, once.
    let socket = unsafe {
        let mut info: WSAPROTOCOL_INFOW = std::mem::zeroed();
        if WSADuplicateSocketW(inherited as usize, std::process::id(), &mut info) != 0 {
            return Err(winsock_error());
        }
        let flags = WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT;
        let from = FROM_PROTOCOL_INFO;
        let socket = WSASocketW(from, from, from, &info, 0, flags);
        if socket == INVALID_SOCKET {
            return Err(winsock_error());
        }
        // Wine's `closesocket` refuses a socket its process did not make; the handle is
        // closed all the same.
        if closesocket(inherited as usize) != 0 {
            CloseHandle(inherited as HANDLE);
        }
        socket
    };
    // SAFETY: just made, owned here.
    Ok(unsafe { TcpStream::from_raw_socket(socket as RawSocket) })
}

fn winsock_error() -> io::Error {
    // SAFETY: reads this thread's last Windows Sockets error.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

fn set_inherit(raw: RawSocket) -> io::Result<()> {
    // SAFETY: a socket is a kernel handle; only its inherit flag is changed.
    let done = unsafe {
        SetHandleInformation(raw as HANDLE, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)
    };
    if done == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The standard library starts Windows sockets the first time it makes a socket itself;
/// a socket that came from elsewhere needs it started by hand (the call is counted, and
/// harmless to repeat).
fn start_winsock() -> io::Result<()> {
    let mut data: WSADATA = unsafe { std::mem::zeroed() };
    // SAFETY: `data` is a valid place for the answer; version 2.2.
    match unsafe { WSAStartup(0x0202, &mut data) } {
        0 => Ok(()),
        code => Err(io::Error::from_raw_os_error(code)),
    }
}
