//! The ground floor: what runs inside a worker, and the wire to it. Nothing here knows
//! of the pool or of the start methods; both are built on it.

pub(crate) mod bootstrap;
#[cfg(unix)]
pub(crate) mod channel;
pub(crate) mod error;
#[cfg(unix)]
pub(crate) mod fork;
#[cfg(unix)]
pub(crate) mod fork_server;
#[cfg(unix)]
mod serve;
pub(crate) mod task;
pub(crate) mod threads;
pub(crate) mod unlocked_io;
pub(crate) mod wire;

#[cfg(unix)]
pub(crate) use serve::{
    contain, detach_stdin, install_panic_hook, serve, serve_spawned, take_channel,
};
