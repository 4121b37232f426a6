//! The ground floor: what runs inside a worker, and the wire to it. Nothing here knows
//! of the pool or of the start methods; both are built on it.

pub(crate) mod bootstrap;
#[cfg(any(unix, windows))]
pub(crate) mod channel;
#[cfg(unix)]
pub(crate) mod descriptors;
pub(crate) mod error;
#[cfg(unix)]
pub(crate) mod fork;
#[cfg(unix)]
pub(crate) mod fork_server;
#[cfg(windows)]
pub(crate) mod loopback;
#[cfg(any(unix, windows))]
mod serve;
pub(crate) mod task;
pub(crate) mod test_support;
pub(crate) mod threads;
pub(crate) mod unlocked_io;
pub(crate) mod wire;

#[cfg(any(unix, windows))]
pub(crate) use serve::{contain, install_panic_hook, is_serving, serve_spawned};

/// What a forked worker does as it leaves, before `_exit`: set by the start method that
/// runs fork servers, so that a server a task started in this worker is stopped and
/// reaped rather than orphaned, since `_exit` runs no thread-local destructor.
#[cfg(unix)]
static ON_LEAVING: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

#[cfg(unix)]
pub(crate) fn on_leaving(hook: fn()) {
    let _ = ON_LEAVING.set(hook);
}

#[cfg(unix)]
pub(crate) fn leaving() {
    if let Some(hook) = ON_LEAVING.get() {
        hook();
    }
}
#[cfg(unix)]
pub(crate) use serve::{detach_stdin, serve, take_channel};
