//! The forkserver start method: the worker is forked from a small server that was
//! started by spawn, when the thread's first forkserver pool (or `ForkServer::start`)
//! needed it.
//!
//! One server per thread, as CPython has one per process: the thread's first forkserver
//! pool starts it, and it then serves every later forkserver pool of that thread, which
//! pays only for the fork of a small process, not for a spawn. It ends when its thread
//! ends (the main thread's when the program exits), or after [`ForkServer::stop`] once
//! the pools that use it are gone. What the server does is in `worker/fork_server.rs`.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::Pid;

use crate::start_method::exec::spawn_this_program;
use crate::start_method::popen_fork::{self, ForkPopen};
use crate::start_method::{Popen, WorkerSpec};
use crate::worker::bootstrap::{self, SERVER_FLAG};
use crate::worker::channel::PoolSocket;
use crate::worker::descriptors::{self, Listed};
use crate::worker::error::{PoolError, Stage, WorkerExit};
use crate::worker::fork_server::{self, ServerReply, ServerRequest};

thread_local! {
    /// This thread's fork server, from the first forkserver pool (or
    /// [`ForkServer::start`]) until [`ForkServer::stop`] or the thread's end. Its
    /// workers hold it too, so a server stopped while a pool uses it ends with that pool.
    static SERVER: RefCell<Option<Arc<Server>>> = const { RefCell::new(None) };
}

/// Takes this thread's server out of its slot. A slot already destroyed (a pool used from
/// another thread-local's destructor, at the thread's end) holds nothing.
fn take_held() -> Option<Arc<Server>> {
    SERVER.try_with(|s| s.borrow_mut().take()).ok().flatten()
}

/// Puts `server` in this thread's slot, if the slot still exists: if not, the server is
/// held by its pools alone, and ends with them.
fn hold(server: &Arc<Server>) {
    let _ = SERVER.try_with(|s| *s.borrow_mut() = Some(Arc::clone(server)));
}

/// This thread's fork server, which its forkserver pools share.
///
/// A program need not touch it: the first forkserver pool starts the server, and it is
/// reaped when its thread ends. A program can start it before the first pool, to pay the
/// spawn at a moment of its choosing, and stop it, so that no child of its lingers once its
/// pools are done (a program that waits for all of its children would otherwise wait for
/// the server too). A thread still running when the program exits cannot reap its
/// server: the kernel ends that server (the parent-death signal), and init reaps it.
/// The main thread's server is reaped by the thread-local's destructor, which glibc runs
/// in `exit()`.
///
/// The handle is not needed to keep the server: while it is held, [`ForkServer::stop`]
/// leaves the server running.
pub struct ForkServer(Arc<Server>);

impl ForkServer {
    /// Starts this thread's fork server, or finds the one already running.
    pub fn start() -> Result<ForkServer, PoolError> {
        // The server runs `main` up to `init()`: started from there, it would start
        // another, and that one another.
        if bootstrap::is_uninitialized_spawned_worker() {
            return Err(PoolError::NotInitialized);
        }
        Server::get_or_start(crate::DEFAULT_TIMEOUT)
            .map(|(server, _)| ForkServer(server))
            .map_err(|source| PoolError::Launch {
                worker: bootstrap::SERVER_NAME.to_owned(),
                source,
            })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// Lets this thread's fork server end: at once if no pool or handle uses it (it is
    /// waited for), else when the last one that does is gone. The next forkserver pool
    /// starts a new one. A forked worker does this as it leaves, for a server its task
    /// started.
    pub fn stop() {
        if let Some(server) = take_held() {
            server.release();
        }
    }
}

/// The pool's side of a fork server: the process and the socket to it.
struct Server {
    process: Mutex<ForkPopen>,
    control: PoolSocket,
    /// The process that started it: a forked copy of that process inherits this handle,
    /// but not the server.
    owner: Pid,
    /// True once a request went unanswered: a late reply would be taken for the answer
    /// to the next request, so no request is sent again.
    lost: AtomicBool,
    /// How the server ended, once it has been reaped.
    ended: Mutex<Option<WorkerExit>>,
}

/// A worker forked by the fork server.
pub(crate) struct ForkserverPopen {
    pid: Pid,
    /// Readable once the worker has ended: it is the server's child, which the server
    /// reaps only when asked, so its pid stays its own until then.
    exit: Option<Listed<OwnedFd>>,
    server: Arc<Server>,
    /// The pool's timeout, for every request about this worker.
    timeout: Duration,
}

impl ForkserverPopen {
    // ANCHOR: launch
    pub(crate) fn launch(
        spec: &WorkerSpec<'_>,
        channel: PoolSocket,
    ) -> Result<Self, PoolError> {
        // A server that does not answer in time is the worker not starting in time.
        let launch_error = |source: io::Error| match source.kind() {
            io::ErrorKind::TimedOut => PoolError::TimedOut {
                worker: spec.name.to_owned(),
                stage: Stage::Starting,
                waited: spec.timeout,
            },
            _ => spec.launch_error(source),
        };
        let (mut server, started_now) =
            Server::get_or_start(spec.timeout).map_err(launch_error)?;
        let request = ServerRequest::Fork {
            name: spec.name.to_owned(),
            env_remove: spec.env_remove.to_vec(),
            threaded_fork: spec.threaded_fork,
        };
        // The worker's end goes to the server, and from it to the worker; this copy is
        // closed when `channel` is dropped, at the end of this function.
        let mut reply = server.ask(&request, Some(&channel), spec.timeout);
        // A server found running may have been killed an instant before, too recently
        // to be seen as ended: it is replaced, once. (Had it forked the worker before
        // dying, that worker dies with it: the parent-death signal.)
        let gone = |reply: &io::Result<_>| matches!(reply, Err(e) if e.kind() == io::ErrorKind::BrokenPipe);
        if !started_now && gone(&reply) {
            (server, _) = Server::get_or_start(spec.timeout).map_err(launch_error)?;
            reply = server.ask(&request, Some(&channel), spec.timeout);
        }
        match reply.map_err(launch_error)? {
            ServerReply::Forked { pid } => Ok(ForkserverPopen {
                pid: Pid::from_raw(pid),
                exit: popen_fork::watch_exit(Pid::from_raw(pid)),
                server,
                timeout: spec.timeout,
            }),
            ServerReply::Refused { threads } => Err(PoolError::ThreadedFork {
                threads,
                server: true,
            }),
            ServerReply::Failed { error } => Err(launch_error(io::Error::other(error))),
            ServerReply::Exited { .. } => Err(launch_error(server.confused())),
        }
    }
    // ANCHOR_END: launch

    fn reap(&mut self, block: bool) -> io::Result<Option<WorkerExit>> {
        let request = ServerRequest::Wait {
            pid: self.pid.as_raw(),
            block,
        };
        // Waiting is only asked for a worker that is ending, or was killed.
        match self.server.ask(&request, None, self.timeout)? {
            ServerReply::Exited { exit } => Ok(exit),
            ServerReply::Failed { error } => Err(io::Error::other(error)),
            _ => Err(self.server.confused()),
        }
    }
}

impl Popen for ForkserverPopen {
    fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// The worker is not this process's child, but it is this user's process.
    /// A worker whose server has ended has ended with it (a parent-death signal), and its
    /// pid may already be another process's: it is left alone.
    fn kill(&mut self) -> io::Result<()> {
        if !self.server.is_running() {
            return Ok(());
        }
        Ok(kill(self.pid, Signal::SIGKILL)?)
    }

    fn wait(&mut self) -> io::Result<WorkerExit> {
        loop {
            if let Some(exit) = self.reap(true)? {
                return Ok(exit);
            }
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<WorkerExit>> {
        self.reap(false)
    }

    /// The worker is the server's child: its end is watched here, and it is reaped
    /// through the server once it has ended.
    fn wait_within(&mut self, limit: Duration) -> io::Result<Option<WorkerExit>> {
        if popen_fork::ended_within(self.exit_sentinel(), limit)? {
            self.wait().map(Some)
        } else {
            Ok(None)
        }
    }

    fn exit_sentinel(&self) -> Option<BorrowedFd<'_>> {
        self.exit.as_ref().map(|exit| exit.as_fd())
    }

    /// A forked worker serves at once; the server's own start-up is paid in `launch`.
    fn announces_readiness(&self) -> bool {
        false
    }
}

impl Server {
    /// This thread's server, and whether it was started now because there was none.
    /// A server that stopped answering, or ended, is let go and replaced.
    fn get_or_start(timeout: Duration) -> io::Result<(Arc<Server>, bool)> {
        if let Some(server) = take_held() {
            if server.is_ours()
                && !server.lost.load(Ordering::Relaxed)
                && server.is_running()
            {
                hold(&server);
                return Ok((server, false));
            }
            server.release();
        }
        // A forked worker whose task gets here leaves through `_exit`: it is told to stop
        // its server first.
        crate::worker::on_leaving(ForkServer::stop);
        let server = Arc::new(Server::start(timeout)?);
        hold(&server);
        Ok((server, true))
    }

    /// False in a copy of the parent made by a fork: the handle it inherited is another
    /// process's, not its own to use, close or reap.
    fn is_ours(&self) -> bool {
        self.owner == nix::unistd::getpid()
    }

    /// Drops this thread's hold on the server; a copy inherited through a fork is
    /// forgotten rather than dropped, so that its socket is not shut down for the parent.
    fn release(self: Arc<Self>) {
        if self.is_ours() {
            drop(self);
        } else {
            std::mem::forget(self);
        }
    }

    // ANCHOR: start
    /// Spawns the server: this program, with the server flag and the parent's pid, then
    /// the parent's own arguments, which `main` sees again. Its end of the socket pair is
    /// its descriptor 3, as a spawned worker's channel is.
    fn start(timeout: Duration) -> io::Result<Server> {
        // Listed as they are made: a fork on another thread must not copy either end.
        let (control, server_end) = descriptors::make_pair(|| {
            Ok(socketpair(
                AddressFamily::Unix,
                SockType::SeqPacket,
                None,
                SockFlag::SOCK_CLOEXEC,
            )?)
        })?;
        let parent = std::process::id().to_string();
        let pid = spawn_this_program(&[SERVER_FLAG, &parent], &[], server_end.as_fd())?;
        let server = Server {
            process: Mutex::new(ForkPopen::adopt(pid)),
            control: PoolSocket::from_listed(control),
            owner: nix::unistd::getpid(),
            lost: AtomicBool::new(false),
            ended: Mutex::new(None),
        };
        server.set_timeout(timeout)?;
        Ok(server)
    }
    // ANCHOR_END: start

    /// Sends a request, with a channel for the worker if there is one, and waits for
    /// the reply, at most `timeout` for each.
    fn ask(
        &self,
        request: &ServerRequest,
        channel: Option<&PoolSocket>,
        timeout: Duration,
    ) -> io::Result<ServerReply> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(io::Error::other(format!(
                "the fork server (pid {}) left an earlier request unanswered",
                self.pid()
            )));
        }
        let answer = self.exchange(request, channel, timeout);
        if answer.is_err() {
            self.lost.store(true, Ordering::Relaxed);
            self.let_go();
        }
        answer
    }

    fn exchange(
        &self,
        request: &ServerRequest,
        channel: Option<&PoolSocket>,
        timeout: Duration,
    ) -> io::Result<ServerReply> {
        self.set_timeout(timeout)?;
        let sent = fork_server::send(
            self.control.as_fd(),
            request,
            channel.map(|c| c.as_fd()),
        );
        match sent.and_then(|()| fork_server::receive(self.control.as_fd())) {
            Ok(Some((reply, _))) => Ok(reply),
            Ok(None) => Err(self.gone()),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                ) =>
            {
                Err(self.gone())
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the fork server (pid {}) did not answer within {timeout:?}",
                    self.pid()
                ),
            )),
            Err(e) => Err(e),
        }
    }

    /// A server that failed a request is no longer this thread's: the pools that use it
    /// still hold it, and when they are gone it is killed (see `drop`).
    fn let_go(&self) {
        let held = SERVER.try_with(|s| {
            let mut s = s.borrow_mut();
            let this = s
                .as_ref()
                .is_some_and(|held| std::ptr::eq(Arc::as_ptr(held), self));
            if this { s.take() } else { None }
        });
        drop(held); // not the last holder: the caller's pool holds it too
    }

    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        use nix::sys::socket::{setsockopt, sockopt};
        use nix::sys::time::TimeVal;
        let timeout = timeout.max(Duration::from_millis(1));
        let time = TimeVal::new(timeout.as_secs() as _, timeout.subsec_micros() as _);
        setsockopt(&self.control, sockopt::ReceiveTimeout, &time)?;
        setsockopt(&self.control, sockopt::SendTimeout, &time)?;
        Ok(())
    }

    /// False once the server has ended (it is reaped then, and how it ended is kept).
    fn is_running(&self) -> bool {
        if locked(&self.ended).is_some() {
            return false;
        }
        match locked(&self.process).try_wait() {
            Ok(Some(exit)) => {
                *locked(&self.ended) = Some(exit);
                false
            }
            _ => true,
        }
    }

    fn pid(&self) -> u32 {
        locked(&self.process).pid()
    }

    /// The error for a server that closed its end: it has ended, and is reaped here.
    fn gone(&self) -> io::Error {
        let pid = self.pid();
        let ended = locked(&self.ended).map(Ok);
        let how = match ended.unwrap_or_else(|| locked(&self.process).wait()) {
            Ok(exit) => {
                *locked(&self.ended) = Some(exit);
                exit.to_string()
            }
            Err(error) => format!("is gone ({error})"),
        };
        io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("the fork server (pid {pid}) {how}"),
        )
    }

    fn confused(&self) -> io::Error {
        io::Error::other(format!(
            "the fork server (pid {}) answered out of turn",
            self.pid()
        ))
    }
}

impl Drop for Server {
    /// Its last holder is gone: closing the socket tells the server to leave. It has
    /// nothing left to do, so it is waited for, with the socket's end-of-file as the
    /// sign it has left; one that does not, or that already let a request time out, is
    /// killed.
    fn drop(&mut self) {
        if !self.is_ours() || locked(&self.ended).is_some() {
            return; // another process's server, or one already reaped
        }
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&self.control.as_fd()),
            nix::sys::socket::Shutdown::Write,
        );
        // Not the last pool's timeout, which may be minutes: this may run as the program
        // exits. An idle server leaves at once; one that takes 2 s is killed.
        let _ = self.set_timeout(Duration::from_secs(2));
        let left = !self.lost.load(Ordering::Relaxed)
            && matches!(
                fork_server::receive::<ServerReply>(self.control.as_fd()),
                Ok(None)
            );
        let mut process = locked(&self.process);
        if !left {
            let _ = process.kill();
        }
        let _ = process.wait();
    }
}

/// A lock on the server's state, even if a thread panicked holding it: the state is a
/// process handle and its exit, which a panic leaves as they were. No lock is held across
/// a `fork()`: each is taken and dropped within one call about the server.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
