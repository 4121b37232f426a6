//! A running pool, in the spirit of Python's `ProcessPoolExecutor`: it hands out tasks and
//! watches its workers, whatever started them.
//!
//! The pool talks to every worker through its own socket and waits on all of them at
//! once with `poll(2)` (`WSAPoll` on Windows), from the calling thread: it starts no
//! thread of its own, so forking a worker never happens behind another thread's back.
//! Every wait has an end: the pool's timeout.

use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::PoolBuilder;
use super::link::{Link, Received};
use super::readiness::{self, Seen, Watched};
use crate::start_method::{self, Popen, StartMethod, WorkerSpec};
use crate::worker::channel::{self, Bytes, Reply};
use crate::worker::error::{PoolError, Stage, WorkerExit};
use crate::worker::task::{Initializer, Task};
use crate::worker::wire;
use crate::worker::{self, bootstrap};

/// Numbers workers across all pools of this process, as Python's `_process_counter`
/// does.
static NEXT_WORKER_NUMBER: AtomicUsize = AtomicUsize::new(1);

/// A fixed set of worker processes that run tasks and send the results back.
///
/// All workers start in [`PoolBuilder::start`] and are reused for every task. Dropping
/// the pool closes every worker's channel and waits for each worker to exit (or, while
/// a panic unwinds, kills them); [`Pool::shutdown`] does the same and also reports a
/// worker that did not exit cleanly.
pub struct Pool {
    settings: PoolBuilder,
    workers: Vec<Worker>,
    broken: bool,
}

/// The pool's side of one worker.
struct Worker {
    name: String,
    process: Box<dyn Popen>,
    state: State,
}

// ANCHOR: state
/// Where a worker is, as the pool sees it.
enum State {
    /// Waiting for a request.
    Idle(Link),
    /// Sent a request at `since`, and has not answered it yet.
    Busy {
        link: Link,
        stage: Stage,
        since: Instant,
    },
    /// Reaped: its channel is closed, and it is never waited for again.
    Gone,
}
// ANCHOR_END: state

impl State {
    fn link(&self) -> Option<&Link> {
        match self {
            State::Idle(link) | State::Busy { link, .. } => Some(link),
            State::Gone => None,
        }
    }

    fn is_busy(&self) -> bool {
        matches!(self, State::Busy { .. })
    }
}

impl Pool {
    /// Starts every worker and, if there is an initializer, waits until each has run it.
    pub(crate) fn start(settings: PoolBuilder) -> Result<Pool, PoolError> {
        if bootstrap::is_uninitialized_spawned_worker() {
            return Err(PoolError::NotInitialized);
        }
        // Before anything is allocated for the workers, or started.
        super::limits::check(&settings)?;
        worker::install_panic_hook();
        let workers = settings.workers;
        let initializer = settings.initializer;
        let mut pool = Pool {
            settings,
            workers: Vec::with_capacity(workers),
            broken: false,
        };
        for _ in 0..workers {
            if let Err(error) = pool.launch_worker() {
                return Err(pool.break_down(error));
            }
        }
        if let Some(initializer) = initializer
            && let Err(error) = pool.initialize(initializer)
        {
            return Err(pool.break_down(error));
        }
        Ok(pool)
    }

    /// How this pool's workers were started.
    pub fn method(&self) -> StartMethod {
        self.settings.method
    }

    /// The process ids of the workers, in the order they were started.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.process.pid()).collect()
    }

    // ANCHOR: map
    /// Runs `task` on every input, spread over the workers, and returns the results in
    /// the order of the inputs.
    ///
    /// A worker that dies, panics, cannot run the task or does not answer within the
    /// pool's timeout makes `map` return an error naming that worker and the cause; the
    /// pool then stops and reaps every worker and is broken.
    pub fn map<I, O>(
        &mut self,
        task: Task<I, O>,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<Vec<O>, PoolError>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        if self.broken {
            return Err(PoolError::Broken);
        }
        // Broken until `map` ends well: a panic on the way (an input's `Serialize`, say)
        // leaves workers whose replies nobody will read.
        self.broken = true;
        match self.run_all(task, inputs) {
            Ok(results) => {
                self.broken = false;
                Ok(results)
            }
            Err(error) => Err(self.break_down(error)),
        }
    }
    // ANCHOR_END: map

    /// Closes every worker's channel, waits for each worker to exit, and reports the
    /// first worker that did not exit with code 0, or did not exit within the timeout.
    pub fn shutdown(mut self) -> Result<(), PoolError> {
        self.close_and_reap()
    }

    fn launch_worker(&mut self) -> Result<(), PoolError> {
        let number = NEXT_WORKER_NUMBER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{number}", self.settings.method.process_kind());
        let spec = WorkerSpec {
            name: &name,
            env_remove: &self.settings.env_remove,
            threaded_fork: self.settings.threaded_fork,
            timeout: self.settings.timeout,
        };
        let (channel, worker_end) = channel::pair(self.settings.timeout)
            .map_err(|source| spec.launch_error(source))?;
        // The worker's end is closed here once the worker holds it, so the pool sees
        // end-of-file on `channel` as soon as the worker is gone.
        let process = start_method::launch(self.settings.method, &spec, worker_end)?;
        let ready = !process.announces_readiness();
        self.workers.push(Worker {
            name,
            process,
            state: State::Idle(Link::new(channel, ready)),
        });
        Ok(())
    }

    /// Has every worker run the initializer, and waits for the results in order: workers
    /// initialise side by side, and a failure is reported for the first worker, by
    /// number, that failed.
    fn initialize(&mut self, initializer: Initializer) -> Result<(), PoolError> {
        let stage = Stage::Initializer {
            name: initializer.name(),
        };
        for index in 0..self.workers.len() {
            let name = format!("{}()", initializer.name());
            self.send(index, &name, Bytes::default(), stage.clone())?;
        }
        for index in 0..self.workers.len() {
            let (stage, output) = self.wait_for(index)?;
            let outcome: Result<(), String> = self.decode(index, stage, output)?;
            if let Err(message) = outcome {
                let worker = self.workers[index].name.clone();
                return Err(PoolError::InitializerFailed { worker, message });
            }
        }
        Ok(())
    }

    fn run_all<I, O>(
        &mut self,
        task: Task<I, O>,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<Vec<O>, PoolError>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        let mut pending = inputs.into_iter().enumerate().peekable();
        let mut results: Vec<Option<O>> = Vec::new();
        loop {
            // Give an input to every idle worker.
            for index in 0..self.workers.len() {
                if !matches!(self.workers[index].state, State::Idle(_)) {
                    continue;
                }
                let Some((position, input)) = pending.next() else {
                    break;
                };
                results.push(None);
                let stage = Stage::Task {
                    name: task.name(),
                    input: position + 1,
                };
                let input =
                    wire::encode(&input).map_err(|reason| PoolError::Encode {
                        stage: stage.clone(),
                        reason,
                    })?;
                self.send(index, task.name(), input, stage)?;
            }
            let busy = self.busy();
            if busy.is_empty() {
                break;
            }
            let (index, stage, output) = self.next_reply(&busy)?;
            let Stage::Task { input, .. } = stage else {
                unreachable!("map sends tasks only")
            };
            results[input - 1] = Some(self.decode(index, stage, output)?);
        }
        Ok(results.into_iter().flatten().collect())
    }

    fn busy(&self) -> Vec<usize> {
        (0..self.workers.len())
            .filter(|&i| self.workers[i].state.is_busy())
            .collect()
    }

    fn send(
        &mut self,
        index: usize,
        task: &str,
        input: Bytes,
        stage: Stage,
    ) -> Result<(), PoolError> {
        self.check_idle(index)?;
        let worker = &mut self.workers[index];
        let State::Idle(mut link) = std::mem::replace(&mut worker.state, State::Gone)
        else {
            unreachable!("requests go to idle workers only")
        };
        let request = link.request(task, input);
        let sent = link.channel.send(&request);
        // A worker that cannot be sent a request was gone before it had it.
        let failed_stage = link.stage(Stage::Idle);
        worker.state = State::Busy {
            link,
            stage: stage.clone(),
            since: Instant::now(),
        };
        match sent {
            Ok(()) => Ok(()),
            // Too large for a frame: nothing was sent.
            Err(e) if e.kind() == ErrorKind::InvalidInput => Err(PoolError::Encode {
                stage,
                reason: e.to_string(),
            }),
            Err(e) => Err(self.channel_failed(index, failed_stage, e)),
        }
    }

    /// Before a request: an idle worker has nothing to say. What its channel holds (an
    /// end-of-file, a reply nobody asked for) or its exit is reported now, never taken
    /// for the answer to the request about to be sent.
    fn check_idle(&mut self, index: usize) -> Result<(), PoolError> {
        loop {
            let State::Idle(link) = &self.workers[index].state else {
                unreachable!("only idle workers are checked")
            };
            let stage = link.stage(Stage::Idle);
            let seen = match link.channel.has_buffered_input() {
                true => Ok(vec![Seen::Readable]),
                false => readiness::wait(&[self.watched(index)], Instant::now()),
            };
            match seen.map(|seen| seen[0]) {
                Ok(Seen::Nothing) => return Ok(()),
                Ok(Seen::Ended) => return Err(self.died(index, stage)),
                Ok(Seen::Readable) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.channel_failed(index, stage, e)),
            }
            let State::Idle(link) = &mut self.workers[index].state else {
                unreachable!("only idle workers are checked")
            };
            let received = link.receive();
            let stage = link.stage(Stage::Idle);
            let what = match received {
                Ok(Received::Nothing) => continue, // a spawned worker's `Ready`
                Ok(Received::Closed) => return Err(self.died(index, stage)),
                Ok(Received::Unasked(what)) => what,
                Ok(Received::Reply(_)) => "it sent a reply nobody asked for",
                Err(e) => return Err(self.channel_failed(index, stage, e)),
            };
            return Err(self.protocol_broken(index, stage, what));
        }
    }

    /// The error for a worker that sent what was not asked for. It is not believed again:
    /// it is killed and reaped with the others as the pool breaks down.
    fn protocol_broken(
        &self,
        index: usize,
        stage: Stage,
        what: &'static str,
    ) -> PoolError {
        PoolError::Protocol {
            worker: self.workers[index].name.clone(),
            stage,
            what,
        }
    }

    /// A live worker as the pool waits on it: its channel, and the sign of its exit.
    fn watched(&self, index: usize) -> Watched<'_> {
        let worker = &self.workers[index];
        let link = worker.state.link().expect("only live workers are watched");
        Watched {
            channel: &link.channel,
            #[cfg(unix)]
            exit: worker.process.exit_sentinel(),
        }
    }

    // ANCHOR: next_reply
    /// Waits until one of the `busy` workers replies, ends or runs out of time, and
    /// returns its index, what it was doing, and the output of its reply.
    fn next_reply(
        &mut self,
        busy: &[usize],
    ) -> Result<(usize, Stage, Bytes), PoolError> {
        loop {
            let index = self.next_readable(busy)?;
            if let Some((stage, output)) = self.receive_from(index)? {
                return Ok((index, stage, output));
            }
        }
    }
    // ANCHOR_END: next_reply

    /// Waits for the reply of one busy worker.
    fn wait_for(&mut self, index: usize) -> Result<(Stage, Bytes), PoolError> {
        let (_, stage, output) = self.next_reply(&[index])?;
        Ok((stage, output))
    }

    /// Receives the reply of a busy worker that has something to read. `None` when that
    /// was only its `Ready`.
    fn receive_from(
        &mut self,
        index: usize,
    ) -> Result<Option<(Stage, Bytes)>, PoolError> {
        let worker = &mut self.workers[index];
        let State::Busy { link, stage, .. } = &mut worker.state else {
            unreachable!("only busy workers are read from")
        };
        let received = link.receive();
        let stage = link.stage(stage.clone());
        let worker = worker.name.clone();
        match received {
            Ok(Received::Nothing) => Ok(None),
            Ok(Received::Reply(Reply::Done { output, .. })) => {
                let state = &mut self.workers[index].state;
                if let State::Busy { link, .. } = std::mem::replace(state, State::Gone)
                {
                    *state = State::Idle(link);
                }
                Ok(Some((stage, output)))
            }
            Ok(Received::Reply(Reply::Panicked { message, .. })) => {
                Err(PoolError::Panicked {
                    worker,
                    stage,
                    message,
                })
            }
            Ok(Received::Reply(Reply::Refused { reason, .. })) => {
                Err(PoolError::Refused {
                    worker,
                    stage,
                    reason,
                })
            }
            Ok(Received::Reply(Reply::Ready)) => {
                unreachable!("`Ready` answers nothing")
            }
            Ok(Received::Unasked(what)) => {
                Err(self.protocol_broken(index, stage, what))
            }
            // The worker's only copy of its end is gone, so is the worker.
            Ok(Received::Closed) => Err(self.died(index, stage)),
            Err(e) => Err(self.channel_failed(index, stage, e)),
        }
    }

    /// The error for a channel that failed: a worker that is gone (it reset the
    /// connection, or left a request unread), one that ran out of time (a read or write
    /// timed out), or the channel itself.
    fn channel_failed(
        &mut self,
        index: usize,
        stage: Stage,
        error: io::Error,
    ) -> PoolError {
        match error.kind() {
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => {
                self.died(index, stage)
            }
            ErrorKind::WouldBlock | ErrorKind::TimedOut => self.timed_out(index, stage),
            _ => PoolError::Channel {
                worker: self.workers[index].name.clone(),
                stage,
                source: error,
            },
        }
    }

    // ANCHOR: next_readable
    /// The index of one of the `busy` workers with something to read (a message, or
    /// end-of-file), as soon as there is one. A worker that ends with nothing to read
    /// (whoever still holds its channel) fails the pool with how it ended; one whose time
    /// runs out first is killed, and the pool fails with `TimedOut`.
    fn next_readable(&mut self, busy: &[usize]) -> Result<usize, PoolError> {
        loop {
            let links: Vec<(usize, &Link, Instant)> = busy
                .iter()
                .filter_map(|&i| match &self.workers[i].state {
                    State::Busy { link, since, .. } => {
                        Some((i, link, *since + self.settings.timeout))
                    }
                    _ => None,
                })
                .collect();
            if let Some(&(index, ..)) = links
                .iter()
                .find(|(_, link, _)| link.channel.has_buffered_input())
            {
                return Ok(index);
            }
            let (first_due, deadline) = links
                .iter()
                .map(|&(index, _, deadline)| (index, deadline))
                .min_by_key(|&(_, deadline)| deadline)
                .expect("the pool waits only while a worker is busy");
            let watched: Vec<Watched<'_>> = links
                .iter()
                .map(|&(index, ..)| self.watched(index))
                .collect();
            match readiness::wait(&watched, deadline) {
                Ok(seen) => {
                    if let Some(position) =
                        seen.iter().position(|&s| s == Seen::Readable)
                    {
                        return Ok(links[position].0);
                    }
                    if let Some(position) = seen.iter().position(|&s| s == Seen::Ended)
                    {
                        let index = links[position].0;
                        return Err(self.died(index, self.stage_of(index)));
                    }
                }
                // A signal came first: only the deadline ends the wait.
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    let stage = self.stage_of(first_due);
                    return Err(self.channel_failed(first_due, stage, error));
                }
            }
            if Instant::now() >= deadline {
                return Err(self.timed_out(first_due, self.stage_of(first_due)));
            }
        }
    }
    // ANCHOR_END: next_readable

    fn stage_of(&self, index: usize) -> Stage {
        match &self.workers[index].state {
            State::Busy { link, stage, .. } => link.stage(stage.clone()),
            _ => Stage::ShuttingDown,
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        index: usize,
        stage: Stage,
        output: Bytes,
    ) -> Result<T, PoolError> {
        // The parent's own failure, not the worker's: its result did not fit `T`.
        wire::decode(&output).map_err(|reason| PoolError::Decode {
            worker: self.workers[index].name.clone(),
            stage,
            reason,
        })
    }

    /// The error for a worker that ended without answering, with how it ended. It
    /// closed its channel, so it is leaving; one still there after the timeout is
    /// killed.
    fn died(&mut self, index: usize, stage: Stage) -> PoolError {
        self.died_within(index, stage, self.settings.timeout)
    }

    /// [`Pool::died`], waiting at most `limit` for the exit: what is left of a deadline
    /// that several workers share.
    fn died_within(
        &mut self,
        index: usize,
        stage: Stage,
        limit: Duration,
    ) -> PoolError {
        let worker = &mut self.workers[index];
        worker.state = State::Gone;
        match worker.process.wait_within(limit) {
            Ok(None) => self.timed_out(index, stage),
            Ok(Some(exit)) => PoolError::Died {
                worker: worker.name.clone(),
                stage,
                exit,
            },
            Err(source) => PoolError::Channel {
                worker: worker.name.clone(),
                stage,
                source,
            },
        }
    }

    /// Kills and reaps a worker that did not answer in time.
    fn timed_out(&mut self, index: usize, stage: Stage) -> PoolError {
        let worker = &mut self.workers[index];
        worker.state = State::Gone;
        let _ = worker.process.kill();
        let _ = worker.process.wait();
        PoolError::TimedOut {
            worker: worker.name.clone(),
            stage,
            waited: self.settings.timeout,
        }
    }

    /// After a failure: kills and reaps every worker, and marks the pool broken.
    fn break_down(&mut self, error: PoolError) -> PoolError {
        self.broken = true;
        // Kill before closing: a worker that saw its channel close would have time to
        // speak.
        let live = |w: &&mut Worker| !matches!(w.state, State::Gone);
        for worker in self.workers.iter_mut().filter(live) {
            let _ = worker.process.kill();
        }
        for worker in self.workers.iter_mut().filter(live) {
            worker.state = State::Gone;
            let _ = worker.process.wait();
        }
        error
    }

    // ANCHOR: close_and_reap
    /// Closes every channel for writing, so that every worker sees end-of-file and
    /// leaves; then waits, with `poll`, until each has closed its end (it has exited, or
    /// is exiting) and reaps it. A worker still there when the timeout runs out is
    /// killed. The channel is the exit's sentinel, as in CPython's `Popen.wait`.
    fn close_and_reap(&mut self) -> Result<(), PoolError> {
        for link in self.workers.iter().filter_map(|w| w.state.link()) {
            link.channel.close_for_writing();
        }
        let deadline = Instant::now() + self.settings.timeout;
        let mut first_error = None;
        loop {
            let live: Vec<usize> = (0..self.workers.len())
                .filter(|&i| self.workers[i].state.link().is_some())
                .collect();
            if live.is_empty() {
                break;
            }
            let watched: Vec<Watched<'_>> =
                live.iter().map(|&index| self.watched(index)).collect();
            // Interrupted, or failed: nothing is seen, and the deadline still counts.
            let seen = readiness::wait(&watched, deadline)
                .unwrap_or_else(|_| vec![Seen::Nothing; watched.len()]);
            let out_of_time = Instant::now() >= deadline;
            for (&index, seen) in live.iter().zip(seen) {
                let error = match seen {
                    _ if out_of_time => self.overdue(index),
                    Seen::Readable => self.drain(index, deadline),
                    // It has left, though a process of its task may hold its channel.
                    Seen::Ended => self.reap_leaving(index, deadline),
                    Seen::Nothing => continue,
                };
                first_error = first_error.or(error.err());
            }
        }
        first_error.map_or(Ok(()), Err)
    }
    // ANCHOR_END: close_and_reap

    /// Reads what a leaving worker still sends (a spawned worker's `Ready`); at
    /// end-of-file, reaps it.
    fn drain(&mut self, index: usize, deadline: Instant) -> Result<(), PoolError> {
        let worker = &mut self.workers[index];
        let (State::Idle(link) | State::Busy { link, .. }) = &mut worker.state else {
            return Ok(());
        };
        let received = link.receive();
        // A worker that never said it was ready never served, whatever its exit code.
        let stage = link.stage(Stage::ShuttingDown);
        let ended = match received {
            Ok(Received::Nothing | Received::Reply(_)) => return Ok(()),
            Ok(Received::Unasked(what)) => {
                return Err(self.protocol_broken(index, stage, what));
            }
            Ok(Received::Closed) => true,
            Err(e) => {
                matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
            }
        };
        if !ended {
            // A read that failed otherwise (a line cut short, then silence): the worker
            // may still run, so it is not waited for but killed.
            return Err(self.timed_out(index, stage));
        }
        self.reap_leaving(index, deadline)
    }

    /// Reaps a worker that has left after its channel was closed: an exit with code 0
    /// is what it was asked for.
    fn reap_leaving(
        &mut self,
        index: usize,
        deadline: Instant,
    ) -> Result<(), PoolError> {
        let stage = self.workers[index]
            .state
            .link()
            .map_or(Stage::ShuttingDown, |link| link.stage(Stage::ShuttingDown));
        let left = deadline.saturating_duration_since(Instant::now());
        match self.died_within(index, stage, left) {
            // Told to leave, it left; with SIGCHLD ignored, how is unknown.
            PoolError::Died {
                exit: WorkerExit::Code(0) | WorkerExit::Unknown,
                stage: Stage::ShuttingDown,
                ..
            } => Ok(()),
            error => Err(error),
        }
    }

    /// A worker that has not closed its channel by the deadline: reaped if it has
    /// exited all the same (a process of its own may hold its end), killed otherwise.
    fn overdue(&mut self, index: usize) -> Result<(), PoolError> {
        let stage = self.workers[index]
            .state
            .link()
            .map_or(Stage::ShuttingDown, |link| link.stage(Stage::ShuttingDown));
        let worker = &mut self.workers[index];
        match worker.process.try_wait() {
            Ok(Some(WorkerExit::Code(0) | WorkerExit::Unknown))
                if stage == Stage::ShuttingDown =>
            {
                worker.state = State::Gone;
                Ok(())
            }
            Ok(Some(exit)) => {
                worker.state = State::Gone;
                Err(PoolError::Died {
                    worker: worker.name.clone(),
                    stage,
                    exit,
                })
            }
            _ => Err(self.timed_out(index, stage)),
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The program is unwinding: its workers' results will never be read.
            let _ = self.break_down(PoolError::Broken);
        } else {
            let _ = self.close_and_reap();
        }
    }
}
