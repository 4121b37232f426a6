//! Every descriptor the library holds for its pools (channels, a fork server's socket,
//! the copy a spawn hands over, the descriptors that watch for a worker's exit), listed
//! from the moment it exists until it is closed, so that a forked worker closes all of
//! them but its own channel.
//!
//! A forked worker inherits every descriptor of its parent, other pools' included. One
//! that it keeps holds another worker's channel open: that worker's exit never shows as
//! end-of-file, and a task could read or write another pool's messages. A descriptor
//! listed only after it was made leaves an instant in which another thread's `fork()`
//! copies it unlisted; so descriptors are made, listed, unlisted and closed under the
//! one lock that `fork()` is called under ([`ForkGuard`]).

use std::io;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

static LISTED: Mutex<Vec<RawFd>> = Mutex::new(Vec::new());

fn lock() -> MutexGuard<'static, Vec<RawFd>> {
    LISTED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A descriptor of the library's (an `OwnedFd`, a `UnixStream`), listed while it is open.
#[derive(Debug)]
pub(crate) struct Listed<T: AsRawFd>(ManuallyDrop<T>);

/// Makes a descriptor under the lock and lists it before any fork can copy it.
pub(crate) fn make<T: AsRawFd>(
    make: impl FnOnce() -> io::Result<T>,
) -> io::Result<Listed<T>> {
    let mut listed = lock();
    let made = make()?;
    listed.push(made.as_raw_fd());
    Ok(Listed(ManuallyDrop::new(made)))
}

/// [`make`], for a call that makes two at once (a socket pair).
pub(crate) fn make_pair<T: AsRawFd>(
    make: impl FnOnce() -> io::Result<(T, T)>,
) -> io::Result<(Listed<T>, Listed<T>)> {
    let mut listed = lock();
    let (one, two) = make()?;
    listed.extend([one.as_raw_fd(), two.as_raw_fd()]);
    Ok((
        Listed(ManuallyDrop::new(one)),
        Listed(ManuallyDrop::new(two)),
    ))
}

/// Lists a descriptor that came from elsewhere (received from the pool, or found at
/// start): it existed unlisted until now, which only a process with one thread (a fork
/// server, a spawned worker) may allow.
pub(crate) fn adopt<T: AsRawFd>(fd: T) -> Listed<T> {
    lock().push(fd.as_raw_fd());
    Listed(ManuallyDrop::new(fd))
}

impl<T: AsRawFd> Listed<T> {
    /// The same descriptor, seen as another type (an `OwnedFd` as a `UnixStream`).
    pub(crate) fn map<U: AsRawFd>(self, convert: impl FnOnce(T) -> U) -> Listed<U> {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: taken once; `this` is never dropped, so the listing stays as it is.
        let inner = unsafe { ManuallyDrop::take(&mut this.0) };
        Listed(ManuallyDrop::new(convert(inner)))
    }
}

impl<T: AsRawFd> Drop for Listed<T> {
    /// Unlisted and closed under the lock: a fork in between would copy it unlisted.
    fn drop(&mut self) {
        let mut listed = lock();
        let fd = self.0.as_raw_fd();
        listed.retain(|&open| open != fd);
        // SAFETY: dropped once, here.
        unsafe { ManuallyDrop::drop(&mut self.0) };
    }
}

impl<T: AsRawFd> Deref for Listed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: AsRawFd> DerefMut for Listed<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: AsRawFd + AsFd> AsFd for Listed<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Held across `fork()`: no other thread can make or close a listed descriptor
/// meanwhile, and the child learns exactly which inherited descriptors are the library's.
pub(crate) struct ForkGuard(MutexGuard<'static, Vec<RawFd>>);

impl ForkGuard {
    pub(crate) fn lock() -> Self {
        ForkGuard(lock())
    }

    /// In the forked child: closes every listed descriptor except `keep`, and forgets
    /// them all. Only `close(2)` and a vector whose room is already there: no allocation.
    pub(crate) fn close_inherited_except(mut self, keep: RawFd) {
        for &fd in self.0.iter().filter(|&&fd| fd != keep) {
            // SAFETY: the parent's objects that own these descriptors are never used or
            // dropped in the child, which leaves through `_exit` without unwinding.
            unsafe { nix::libc::close(fd) };
        }
        self.0.clear();
        self.0.push(keep);
    }
}
