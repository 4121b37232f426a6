//! The ground floor: what runs inside a worker, and the wire to it. Nothing here knows
//! of the pool or of the start methods; both are built on it.

pub(crate) mod bootstrap;
#[cfg(any(unix, windows))]
pub(crate) mod channel;
pub(crate) mod error;
#[cfg(unix)]
pub(crate) mod fork;
#[cfg(unix)]
pub(crate) mod fork_server;
#[cfg(windows)]
pub(crate) mod loopback;
mod nested_none;
#[cfg(any(unix, windows))]
mod serve;
pub(crate) mod task;
pub(crate) mod threads;
pub(crate) mod unlocked_io;
pub(crate) mod wire;

#[cfg(any(unix, windows))]
pub(crate) use serve::{contain, install_panic_hook, serve_spawned};
#[cfg(unix)]
pub(crate) use serve::{detach_stdin, serve, take_channel};
