//! A pool of worker processes in the spirit of Python's `ProcessPoolExecutor`.
//!
//! The pool talks to every worker through its own socket and waits on all of them at
//! once with `poll(2)`, from the calling thread: it starts no thread of its own, so
//! forking a worker never happens behind another thread's back.

use std::io::{self, ErrorKind::BrokenPipe, ErrorKind::ConnectionReset};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bootstrap;
use crate::channel::{self, Channel, Reply, Request};
use crate::error::{PoolError, Stage, WorkerExit};
use crate::start_method::{self, Popen, StartMethod, WorkerSpec};
use crate::task::{Initializer, Task};
use crate::worker;

/// Numbers workers across all pools of this process, as Python's `_process_counter`
/// does.
static NEXT_WORKER_NUMBER: AtomicUsize = AtomicUsize::new(1);

/// A fixed set of worker processes that run tasks and send the results back.
///
/// All workers start in [`PoolBuilder::start`] and are reused for every task. Dropping
/// the pool closes every worker's channel and waits for each worker to exit;
/// [`Pool::shutdown`] does the same and also reports a worker that did not exit
/// cleanly.
pub struct Pool {
    method: StartMethod,
    env_remove: Vec<String>,
    workers: Vec<Worker>,
    broken: bool,
}

/// The pool's side of one worker.
struct Worker {
    name: String,
    process: Box<dyn Popen>,
    /// `None` once the pool has closed it.
    channel: Option<Channel>,
    /// What the worker is doing while the pool waits for its reply; `None` when idle.
    stage: Option<Stage>,
    /// True once the worker's `Ready` has been read, or from the start for a worker that
    /// sends none. The pool does not wait for it before sending the first request: it
    /// reads it in front of the first reply.
    ready: bool,
    /// True once the worker has been waited for, so that it is never waited for twice.
    reaped: bool,
}

impl Worker {
    /// `stage`, or `Starting` for a worker that has not said it is ready: whatever it was
    /// sent, it never began to serve.
    fn stage_unless_starting(&self, stage: Stage) -> Stage {
        if self.ready { stage } else { Stage::Starting }
    }
}

/// Settings of a pool before its workers start. Made by [`Pool::builder`].
#[must_use]
pub struct PoolBuilder {
    method: StartMethod,
    workers: usize,
    initializer: Option<Initializer>,
    env_remove: Vec<String>,
}

impl PoolBuilder {
    /// How many workers to start (at least one; the default is one).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// A function every worker runs once, before its first task.
    pub fn initializer(mut self, initializer: Initializer) -> Self {
        self.initializer = Some(initializer);
        self
    }

    /// Starts workers without the environment variable `name`. A spawned worker never
    /// receives it. A forked worker removes it from its environment at once, but it holds
    /// a copy of the parent's memory, where the value may still be found.
    pub fn env_remove(mut self, name: impl Into<String>) -> Self {
        self.env_remove.push(name.into());
        self
    }

    /// Starts every worker and, if there is an initializer, waits until each has run it.
    pub fn start(self) -> Result<Pool, PoolError> {
        if bootstrap::is_uninitialized_spawned_worker() {
            return Err(PoolError::NotInitialized);
        }
        worker::install_panic_hook();
        let mut pool = Pool {
            method: self.method,
            env_remove: self.env_remove,
            workers: Vec::with_capacity(self.workers),
            broken: false,
        };
        for _ in 0..self.workers {
            if let Err(error) = pool.launch_worker() {
                return Err(pool.break_down(error));
            }
        }
        if let Some(initializer) = self.initializer
            && let Err(error) = pool.initialize(initializer)
        {
            return Err(pool.break_down(error));
        }
        Ok(pool)
    }
}

impl Pool {
    /// Starts a pool of `workers` workers with no initializer.
    pub fn new(method: StartMethod, workers: usize) -> Result<Pool, PoolError> {
        Pool::builder(method).workers(workers).start()
    }

    /// Settings for a pool whose workers start with `method`.
    pub fn builder(method: StartMethod) -> PoolBuilder {
        PoolBuilder {
            method,
            workers: 1,
            initializer: None,
            env_remove: Vec::new(),
        }
    }

    /// How this pool's workers were started.
    pub fn method(&self) -> StartMethod {
        self.method
    }

    /// The process ids of the workers, in the order they were started.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.process.pid()).collect()
    }

    // ANCHOR: map
    /// Runs `task` on every input, spread over the workers, and returns the results in
    /// the order of the inputs.
    ///
    /// A worker that dies, panics or cannot run the task makes `map` return an error
    /// naming that worker and the cause; the pool then stops and reaps every worker and
    /// is broken.
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
        match self.run_all(task, inputs) {
            Ok(results) => Ok(results),
            Err(error) => Err(self.break_down(error)),
        }
    }
    // ANCHOR_END: map

    /// Closes every worker's channel, waits for each worker to exit, and reports the
    /// first worker that did not exit with code 0.
    pub fn shutdown(mut self) -> Result<(), PoolError> {
        self.close_and_reap()
    }

    fn launch_worker(&mut self) -> Result<(), PoolError> {
        let number = NEXT_WORKER_NUMBER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{number}", self.method.process_kind());
        let launch_error = |source: io::Error| PoolError::Launch {
            worker: name.clone(),
            source,
        };
        let (channel, worker_end) = channel::pair().map_err(launch_error)?;
        // The worker's end is closed here once the worker holds it, so the pool sees
        // end-of-file on `channel` as soon as the worker is gone.
        let spec = WorkerSpec {
            name: &name,
            env_remove: &self.env_remove,
        };
        let process = start_method::launch(self.method, &spec, worker_end)
            .map_err(launch_error)?;
        let ready = !process.announces_readiness();
        self.workers.push(Worker {
            name,
            process,
            channel: Some(channel),
            stage: None,
            ready,
            reaped: false,
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
            self.send(index, initializer.name(), Value::Null, stage.clone())?;
        }
        for index in 0..self.workers.len() {
            match self.wait_for(index)? {
                (stage @ Stage::Initializer { .. }, Reply::Done { output }) => {
                    let outcome: Result<(), String> =
                        self.decode(index, stage, output)?;
                    if let Err(message) = outcome {
                        let worker = self.workers[index].name.clone();
                        return Err(PoolError::InitializerFailed { worker, message });
                    }
                }
                (stage, reply) => return Err(self.unexpected(index, stage, reply)),
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
                if self.workers[index].stage.is_some() {
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
                    serde_json::to_value(input).map_err(|e| PoolError::Refused {
                        worker: self.workers[index].name.clone(),
                        stage: stage.clone(),
                        reason: format!("cannot encode the input: {e}"),
                    })?;
                self.send(index, task.name(), input, stage)?;
            }
            if self.workers.iter().all(|w| w.stage.is_none()) {
                break;
            }
            let (index, stage, reply) = self.next_reply()?;
            match (stage, reply) {
                (stage @ Stage::Task { input, .. }, Reply::Done { output }) => {
                    results[input - 1] = Some(self.decode(index, stage, output)?);
                }
                (stage, reply) => return Err(self.unexpected(index, stage, reply)),
            }
        }
        Ok(results.into_iter().flatten().collect())
    }

    fn send(
        &mut self,
        index: usize,
        task: &str,
        input: Value,
        stage: Stage,
    ) -> Result<(), PoolError> {
        let worker = &mut self.workers[index];
        let request = Request::Run {
            task: task.to_owned(),
            input,
        };
        let sent = match worker.channel.as_mut() {
            Some(channel) => channel.send(&request),
            None => Err(io::ErrorKind::NotConnected.into()),
        };
        match sent {
            Ok(()) => {
                worker.stage = Some(stage);
                Ok(())
            }
            // The worker is gone: say how it ended rather than what the socket said.
            Err(e) if matches!(e.kind(), BrokenPipe | ConnectionReset) => {
                Err(self.died(index, stage))
            }
            Err(source) => Err(PoolError::Channel {
                worker: worker.name.clone(),
                stage,
                source,
            }),
        }
    }

    // ANCHOR: next_reply
    /// Waits until a busy worker replies or ends, and returns that worker's index, what
    /// it was doing, and its reply.
    fn next_reply(&mut self) -> Result<(usize, Stage, Reply), PoolError> {
        loop {
            let index = self.next_readable()?;
            if let Some((stage, reply)) = self.receive_from(index)? {
                return Ok((index, stage, reply));
            }
        }
    }
    // ANCHOR_END: next_reply

    /// Receives the reply of one busy worker, waiting for it if need be. A worker's first
    /// message may be `Ready`; it is read here, in front of the first reply, so that the
    /// pool never waits for it on its own. Returns `None` when that was all there was to
    /// read: the caller goes back to watching every busy worker rather than wait for this
    /// one.
    fn receive_from(
        &mut self,
        index: usize,
    ) -> Result<Option<(Stage, Reply)>, PoolError> {
        let worker = &mut self.workers[index];
        let stage = worker.stage.take().expect("only busy workers are polled");
        if !worker.ready {
            match Self::receive(worker) {
                Ok(Some(Reply::Ready)) => worker.ready = true,
                // Anything else, end-of-file included, came before the worker was ready.
                other => return Err(self.reply_error(index, Stage::Starting, other)),
            }
            if !worker
                .channel
                .as_ref()
                .is_some_and(Channel::has_buffered_input)
            {
                worker.stage = Some(stage);
                return Ok(None);
            }
        }
        match Self::receive(&mut self.workers[index]) {
            Ok(Some(reply @ (Reply::Ready | Reply::Done { .. }))) => {
                Ok(Some((stage, reply)))
            }
            other => Err(self.reply_error(index, stage, other)),
        }
    }

    /// Waits for the reply of one busy worker.
    fn wait_for(&mut self, index: usize) -> Result<(Stage, Reply), PoolError> {
        loop {
            if let Some(reply) = self.receive_from(index)? {
                return Ok(reply);
            }
        }
    }

    fn receive(worker: &mut Worker) -> io::Result<Option<Reply>> {
        match worker.channel.as_mut() {
            Some(channel) => channel.receive(),
            None => Ok(None),
        }
    }

    /// The error for a message that is not a reply, or for no message at all.
    fn reply_error(
        &mut self,
        index: usize,
        stage: Stage,
        received: io::Result<Option<Reply>>,
    ) -> PoolError {
        let worker = self.workers[index].name.clone();
        match received {
            Ok(Some(Reply::Panicked { message })) => PoolError::Panicked {
                worker,
                stage,
                message,
            },
            Ok(Some(Reply::Refused { reason })) => PoolError::Refused {
                worker,
                stage,
                reason,
            },
            Ok(Some(reply)) => self.unexpected(index, stage, reply),
            // End-of-file: the worker's only copy of its end is gone, so is the worker. A
            // reset says the same of a worker that left a request of ours unread.
            Ok(None) => self.died(index, stage),
            Err(e) if e.kind() == ConnectionReset => self.died(index, stage),
            Err(source) => PoolError::Channel {
                worker,
                stage,
                source,
            },
        }
    }

    /// The index of a busy worker with something to read: a message, or end-of-file.
    fn next_readable(&self) -> Result<usize, PoolError> {
        let busy: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].stage.is_some())
            .collect();
        if let [only] = busy[..] {
            return Ok(only); // a blocking read will do: no need to poll
        }
        if let Some(&index) = busy.iter().find(|&&i| {
            let channel = self.workers[i].channel.as_ref();
            channel.is_none_or(Channel::has_buffered_input)
        }) {
            return Ok(index);
        }
        let mut fds: Vec<PollFd> = busy
            .iter()
            .filter_map(|&i| self.workers[i].channel.as_ref())
            .map(|channel| PollFd::new(channel.as_fd(), PollFlags::POLLIN))
            .collect();
        loop {
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => break,
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    let index = busy[0];
                    return Err(PoolError::Channel {
                        worker: self.workers[index].name.clone(),
                        stage: self.workers[index]
                            .stage
                            .clone()
                            .unwrap_or(Stage::Starting),
                        source: errno.into(),
                    });
                }
            }
        }
        let ready = fds
            .iter()
            .position(|fd| fd.revents().is_some_and(|events| !events.is_empty()))
            .expect("poll without a timeout returns only when a descriptor is ready");
        Ok(busy[ready])
    }

    fn decode<T: DeserializeOwned>(
        &self,
        index: usize,
        stage: Stage,
        output: Value,
    ) -> Result<T, PoolError> {
        serde_json::from_value(output).map_err(|e| PoolError::Refused {
            worker: self.workers[index].name.clone(),
            stage,
            reason: format!("cannot decode the result: {e}"),
        })
    }

    fn unexpected(&self, index: usize, stage: Stage, reply: Reply) -> PoolError {
        PoolError::Refused {
            worker: self.workers[index].name.clone(),
            stage,
            reason: format!("unexpected reply {reply:?}"),
        }
    }

    /// The error for a worker that ended without answering, with how it ended.
    fn died(&mut self, index: usize, stage: Stage) -> PoolError {
        let worker = &mut self.workers[index];
        worker.channel = None;
        worker.reaped = true;
        let stage = worker.stage_unless_starting(stage);
        match worker.process.wait() {
            Ok(exit) => PoolError::Died {
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

    /// After a failure: kills and reaps every worker, and marks the pool broken.
    fn break_down(&mut self, error: PoolError) -> PoolError {
        self.broken = true;
        // Kill before closing: a worker that saw its channel close would have time to
        // speak.
        for worker in self.workers.iter_mut().filter(|w| !w.reaped) {
            let _ = worker.process.kill();
        }
        for worker in &mut self.workers {
            worker.channel = None;
            if !worker.reaped {
                let _ = worker.process.wait();
                worker.reaped = true;
            }
        }
        error
    }

    fn close_and_reap(&mut self) -> Result<(), PoolError> {
        // Close every channel first, so that all workers leave at the same time.
        for worker in &mut self.workers {
            worker.channel = None;
        }
        let mut first_error = None;
        for worker in &mut self.workers {
            if worker.reaped {
                continue;
            }
            worker.reaped = true;
            let stage = worker.stage_unless_starting(Stage::ShuttingDown);
            let error = match worker.process.wait() {
                Ok(WorkerExit::Code(0)) => None,
                Ok(exit) => Some(PoolError::Died {
                    worker: worker.name.clone(),
                    stage,
                    exit,
                }),
                Err(source) => Some(PoolError::Channel {
                    worker: worker.name.clone(),
                    stage,
                    source,
                }),
            };
            first_error = first_error.or(error);
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let _ = self.close_and_reap();
    }
}
