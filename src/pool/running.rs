//! A running pool, in the spirit of Python's `ProcessPoolExecutor`: a queue of jobs, the
//! workers that run them, whatever started them, and what each job came to.
//!
//! The pool talks to every worker through its own socket and waits on all of them at
//! once with `poll(2)` (`WSAPoll` on Windows), from the calling thread: it starts no
//! thread of its own, so forking a worker never happens behind another thread's back.
//! Every wait has an end: the job's timeout.
//!
//! A failure belongs to the inputs it touched. A task that panics fails its own input,
//! and its worker serves on; a worker that dies, breaks the protocol or runs out of time
//! fails the job it was running, gives back the jobs it had not begun, and is replaced.
//! Only a worker that cannot be started (or initialised) again breaks the pool.

mod shutdown;

use std::collections::{HashMap, VecDeque};
use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::PoolBuilder;
use super::link::{Link, Received};
use super::readiness::{self, Seen, Watched};
use crate::start_method::{self, Popen, StartMethod, WorkerSpec};
use crate::worker::channel::{self, Bytes, Outcome, Reply};
use crate::worker::error::{PoolError, Stage};
use crate::worker::task::Initializer;
use crate::worker::{self, bootstrap};

/// Numbers workers across all pools of this process, as Python's `_process_counter`
/// does.
static NEXT_WORKER_NUMBER: AtomicUsize = AtomicUsize::new(1);

/// How many jobs of one `map` a worker holds at once: the one it runs, and the next,
/// already in its socket, so that it never waits for the parent between two.
const PIPELINE_DEPTH: usize = 2;

/// The call that starts a worker: its initializer.
const INITIALIZER_CALL: u64 = 0;

/// A fixed number of worker processes that run tasks and send the results back.
///
/// All workers start in [`PoolBuilder::start`] and are reused for every task; one that
/// dies, times out or has run [`PoolBuilder::max_tasks_per_child`] tasks is replaced.
/// Dropping the pool closes every worker's channel and waits for each worker to exit
/// (or, while a panic unwinds, kills them); [`Pool::shutdown`] does the same and reports
/// what failed.
pub struct Pool {
    pub(super) settings: PoolBuilder,
    workers: Vec<Worker>,
    /// Jobs not yet sent, oldest first.
    queue: VecDeque<Job>,
    /// What each call still waits for, and what it has received.
    calls: HashMap<u64, Call>,
    next_call: u64,
    /// Why the pool runs nothing more, once it does not.
    broken: Option<String>,
    /// Failures no caller has heard of (a worker that died while idle), for `shutdown`.
    unreported: Vec<PoolError>,
    /// The failure that broke the pool, until an input owed fails with it.
    untold: Option<PoolError>,
    /// Initializers that failed, by worker place, until every worker has answered.
    initializer_failures: Vec<(usize, PoolError)>,
}

/// The pool's side of one worker.
struct Worker {
    name: Arc<str>,
    process: Box<dyn Popen>,
    state: State,
    /// Inputs it has run, for `max_tasks_per_child`.
    served: usize,
}

// ANCHOR: state
/// Where a worker is, as the pool sees it.
enum State {
    /// Waiting for a request.
    Idle(Link),
    /// Holds these jobs, oldest first: it has run the first since `since`, and has not
    /// begun the others.
    Busy {
        link: Link,
        held: VecDeque<Job>,
        since: Instant,
        /// The input of the first job that is panicking, and its message.
        panicking: Option<(u32, String)>,
    },
    /// Reaped: its channel is closed, and it is never waited for again.
    Gone,
}
// ANCHOR_END: state

/// One request: a task on one input, or on a chunk of inputs of one call.
pub(super) struct Job {
    pub(super) call: u64,
    pub(super) task: &'static str,
    /// Where each input stands among its call's inputs, counted from 0.
    pub(super) positions: Vec<usize>,
    pub(super) inputs: Vec<Bytes>,
    /// How long the worker may take over it.
    pub(super) limit: Duration,
    /// True if a worker may hold it behind another job of its call.
    pub(super) pipelined: bool,
}

/// What one call (a `map`, a submitted task) is owed.
#[derive(Default)]
struct Call {
    /// Inputs sent or queued, whose results have not come.
    outstanding: usize,
    /// Results as they came: the input's position, and its result.
    finished: VecDeque<(usize, Result<Delivered, PoolError>)>,
    /// The caller has gone: results are thrown away as they come.
    abandoned: bool,
}

/// A result as it came from a worker, still encoded.
pub(super) struct Delivered {
    pub(super) output: Bytes,
    pub(super) worker: Arc<str>,
}

impl State {
    fn link(&self) -> Option<&Link> {
        match self {
            State::Idle(link) | State::Busy { link, .. } => Some(link),
            State::Gone => None,
        }
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
        let mut pool = Pool {
            settings,
            workers: Vec::with_capacity(workers),
            queue: VecDeque::new(),
            calls: HashMap::new(),
            next_call: INITIALIZER_CALL + 1,
            broken: None,
            unreported: Vec::new(),
            untold: None,
            initializer_failures: Vec::new(),
        };
        for _ in 0..workers {
            if let Err(error) = pool.launch_worker(None) {
                return Err(pool.break_down(error));
            }
        }
        // Workers initialise side by side; a failure is reported for the first worker,
        // by number, that failed.
        while pool
            .workers
            .iter()
            .any(|w| matches!(w.state, State::Busy { .. }))
        {
            if let Err(broken) = pool.step(None) {
                return Err(pool.untold.take().unwrap_or(broken));
            }
        }
        Ok(pool)
    }

    /// How this pool's workers were started.
    pub fn method(&self) -> StartMethod {
        self.settings.method
    }

    /// The process ids of the workers, in the order of their places in the pool (a
    /// replaced worker's place holds its replacement).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.workers.iter().map(|w| w.process.pid()).collect()
    }

    /// Closes every worker's channel, waits for each worker to exit, and reports what
    /// failed: the first worker that did not exit with code 0 or within the timeout, or
    /// else a failure no call reported (a worker that died while idle), or else the
    /// failure that broke the pool.
    ///
    /// # Errors
    ///
    /// That failure, if there was one.
    pub fn shutdown(mut self) -> Result<(), PoolError> {
        let closing = self.close_and_reap();
        let unreported = std::mem::take(&mut self.unreported).into_iter().next();
        match (closing, unreported, self.broken.take()) {
            (Err(error), _, _) | (Ok(()), Some(error), _) => Err(error),
            (Ok(()), None, Some(cause)) => Err(PoolError::Broken { cause }),
            (Ok(()), None, None) => Ok(()),
        }
    }

    // Calls: what the typed methods (`calls.rs`) build on.

    /// Opens a call for these jobs, queued in order. Idle workers are looked at first:
    /// one that died since the last call is replaced before it is sent anything.
    pub(super) fn open_call(&mut self, jobs: impl FnOnce(u64) -> Vec<Job>) -> u64 {
        if let Err(error) = self.check_idle() {
            self.break_and_fail_all(error);
        }
        let id = self.next_call;
        self.next_call += 1;
        let jobs = jobs(id);
        let call = self.calls.entry(id).or_default();
        for job in jobs {
            call.outstanding += job.positions.len();
            self.queue.push_back(job);
        }
        id
    }

    /// A failure of one input, known before anything was sent (it did not encode).
    pub(super) fn fail_at_once(
        &mut self,
        call: u64,
        position: usize,
        error: PoolError,
    ) {
        self.calls
            .entry(call)
            .or_default()
            .finished
            .push_back((position, Err(error)));
    }

    /// The next result of `call`, as it comes; waits until `until` at most (or as long
    /// as a job takes, without one). `None` when the call has nothing more to come, or
    /// nothing came in time.
    pub(super) fn next_of(
        &mut self,
        call: u64,
        until: Option<Instant>,
    ) -> Option<(usize, Result<Delivered, PoolError>)> {
        loop {
            if self.broken.is_some() {
                self.fail_everything();
                let entry = self.calls.get_mut(&call)?;
                if entry.finished.is_empty() {
                    self.calls.remove(&call);
                    return None;
                }
            }
            let entry = self.calls.get_mut(&call)?;
            if let Some(result) = entry.finished.pop_front() {
                return Some(result);
            }
            if entry.outstanding == 0 {
                self.calls.remove(&call);
                return None;
            }
            if until.is_some_and(|until| Instant::now() >= until) {
                return None;
            }
            // A failure that breaks the pool fails every input still owed, which this
            // loop then returns.
            let _ = self.step(until);
        }
    }

    /// Whether `call` is still owed anything, or holds a result not yet taken.
    pub(super) fn is_open(&self, call: u64) -> bool {
        self.calls.contains_key(&call)
    }

    /// The caller has gone: its queued jobs are dropped, and the results of the ones
    /// running are thrown away as they come.
    pub(super) fn abandon(&mut self, call: u64) {
        self.queue.retain(|job| job.call != call);
        let held = self.held_inputs(call);
        let Some(entry) = self.calls.get_mut(&call) else {
            return;
        };
        entry.finished.clear();
        entry.abandoned = true;
        entry.outstanding = held;
        if entry.outstanding == 0 {
            self.calls.remove(&call);
        }
    }

    /// Stops the jobs of `call`: queued ones are dropped, and a worker running one is
    /// killed and replaced. Each input stopped fails with `Killed`. False if the call
    /// had nothing left to stop.
    pub(super) fn kill_call(&mut self, call: u64) -> bool {
        let mut stopped = false;
        let queued: VecDeque<Job> = {
            let (mine, others) = std::mem::take(&mut self.queue)
                .into_iter()
                .partition(|job| job.call == call);
            self.queue = others;
            mine
        };
        for job in queued {
            stopped = true;
            self.fail_job(job, None, |stage| PoolError::Killed { stage });
        }
        let running: Vec<usize> = (0..self.workers.len())
            .filter(|&i| match &self.workers[i].state {
                State::Busy { held, .. } => {
                    held.front().is_some_and(|j| j.call == call)
                }
                _ => false,
            })
            .collect();
        for index in running {
            stopped = true;
            let _ = self.workers[index].process.kill();
            if let Err(error) =
                self.lose_worker(index, |_, stage| PoolError::Killed { stage })
            {
                self.break_and_fail_all(error);
            }
        }
        stopped
    }

    /// Whether the pool still runs tasks: `Err(Broken)` once a worker could not be
    /// replaced.
    pub(super) fn check_running(&mut self) -> Result<(), PoolError> {
        match &self.broken {
            Some(cause) => Err(PoolError::Broken {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    fn held_inputs(&self, call: u64) -> usize {
        self.workers
            .iter()
            .filter_map(|w| match &w.state {
                State::Busy { held, .. } => Some(held),
                _ => None,
            })
            .flatten()
            .filter(|job| job.call == call)
            .map(|job| job.positions.len())
            .sum()
    }

    // The engine.

    /// Sends what can be sent, then waits, until `until` at most, for one round of
    /// replies, ends and timeouts, and deals with them. An error is a failure that breaks
    /// the pool.
    fn step(&mut self, until: Option<Instant>) -> Result<(), PoolError> {
        match self.turn(until) {
            Ok(()) => Ok(()),
            Err(error) => Err(self.break_and_fail_all(error)),
        }
    }

    fn turn(&mut self, until: Option<Instant>) -> Result<(), PoolError> {
        self.dispatch()?;
        let live: Vec<usize> = (0..self.workers.len())
            .filter(|&i| self.workers[i].state.link().is_some())
            .collect();
        let due = live.iter().filter_map(|&i| self.due(i)).chain(until).min();
        let Some(deadline) = due else {
            if self.queue.is_empty() {
                return Ok(()); // nothing runs, and nobody waits
            }
            return Err(PoolError::Broken {
                cause: "no worker can take the jobs queued".to_owned(),
            });
        };
        let buffered: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&i| {
                self.workers[i]
                    .state
                    .link()
                    .is_some_and(|l| l.channel.has_buffered_input())
            })
            .collect();
        let seen = match buffered.is_empty() {
            false => live
                .iter()
                .map(|i| match buffered.contains(i) {
                    true => Seen::Readable,
                    false => Seen::Nothing,
                })
                .collect(),
            true => {
                let watched: Vec<Watched<'_>> =
                    live.iter().map(|&index| self.watched(index)).collect();
                match readiness::wait(&watched, deadline) {
                    Ok(seen) => seen,
                    // A signal came first: only the deadline ends the wait.
                    Err(e) if e.kind() == ErrorKind::Interrupted => {
                        vec![Seen::Nothing; live.len()]
                    }
                    Err(source) => {
                        return Err(PoolError::Channel {
                            worker: "(all workers)".to_owned(),
                            stage: Stage::Idle,
                            source,
                        });
                    }
                }
            }
        };
        for (&index, seen) in live.iter().zip(seen) {
            match seen {
                Seen::Readable => self.read_from(index)?,
                Seen::Ended => self.worker_ended(index)?,
                Seen::Nothing => {}
            }
            if self.due(index).is_some_and(|due| Instant::now() >= due) {
                let waited = self.front_limit(index);
                let _ = self.workers[index].process.kill();
                self.lose_worker(index, |worker, stage| PoolError::TimedOut {
                    worker,
                    stage,
                    waited,
                })?;
            }
        }
        self.retire_spent()
    }

    /// One look, without waiting, at every idle worker: what it sent unasked, or its end.
    fn check_idle(&mut self) -> Result<(), PoolError> {
        if self.broken.is_some() {
            return Ok(());
        }
        let idle: Vec<usize> = (0..self.workers.len())
            .filter(|&i| matches!(self.workers[i].state, State::Idle(_)))
            .collect();
        let watched: Vec<Watched<'_>> = idle.iter().map(|&i| self.watched(i)).collect();
        let Ok(seen) = readiness::wait(&watched, Instant::now()) else {
            return Ok(()); // interrupted: the main wait will see it
        };
        for (index, seen) in idle.into_iter().zip(seen) {
            match seen {
                Seen::Readable => self.read_from(index)?,
                Seen::Ended => self.worker_ended(index)?,
                Seen::Nothing => {}
            }
        }
        Ok(())
    }

    /// When the job a worker runs runs out of time; `None` for an idle worker.
    fn due(&self, index: usize) -> Option<Instant> {
        match &self.workers[index].state {
            State::Busy { held, since, .. } => Some(*since + held.front()?.limit),
            _ => None,
        }
    }

    /// How long the worker may take over the job it runs.
    fn front_limit(&self, index: usize) -> Duration {
        match &self.workers[index].state {
            State::Busy { held, .. } => {
                held.front().map_or(self.settings.timeout, |j| j.limit)
            }
            _ => self.settings.timeout,
        }
    }

    /// Gives queued jobs to workers: an idle one takes the oldest job; a busy one takes
    /// the next as well if both are of one `map`.
    fn dispatch(&mut self) -> Result<(), PoolError> {
        while let Some(job) = self.queue.front() {
            let Some(index) = self.place_for(job) else {
                return Ok(());
            };
            let job = self.queue.pop_front().expect("a job was there");
            self.send(index, job)?;
        }
        Ok(())
    }

    fn place_for(&self, job: &Job) -> Option<usize> {
        let budget = self.settings.max_tasks_per_child;
        let fits =
            |w: &Worker, held: usize| budget.is_none_or(|most| w.served + held < most);
        let idle = self
            .workers
            .iter()
            .position(|w| matches!(w.state, State::Idle(_)) && fits(w, 0));
        if idle.is_some() || !job.pipelined {
            return idle;
        }
        self.workers.iter().position(|w| match &w.state {
            State::Busy { held, .. } => {
                held.len() < PIPELINE_DEPTH
                    && held.iter().all(|h| h.call == job.call && h.pipelined)
                    && fits(w, held.iter().map(|h| h.positions.len()).sum())
            }
            _ => false,
        })
    }

    fn send(&mut self, index: usize, job: Job) -> Result<(), PoolError> {
        let worker = &mut self.workers[index];
        let (mut link, mut held, since, panicking) =
            match std::mem::replace(&mut worker.state, State::Gone) {
                State::Idle(link) => (link, VecDeque::new(), Instant::now(), None),
                State::Busy {
                    link,
                    held,
                    since,
                    panicking,
                } => (link, held, since, panicking),
                State::Gone => unreachable!("jobs go to live workers only"),
            };
        // An initializer is asked for as `name()`: a task may share its name.
        let request = match job.call {
            INITIALIZER_CALL => link.request(&format!("{}()", job.task), job.inputs),
            _ => link.request(job.task, job.inputs),
        };
        let sent = link.channel.send(&request);
        let channel::Request::Run { inputs, .. } = request;
        let job = Job { inputs, ..job };
        let refused = match sent {
            // Too large for a frame: nothing was sent.
            Err(error) if error.kind() == ErrorKind::InvalidInput => {
                link.unsend();
                Some((job, error.to_string()))
            }
            // Sent, or the worker is gone: what it holds is dealt with as it ends.
            _ => {
                held.push_back(job);
                None
            }
        };
        worker.state = match held.is_empty() {
            true => State::Idle(link),
            false => State::Busy {
                link,
                held,
                since,
                panicking,
            },
        };
        if let Some((job, reason)) = refused {
            if job.call == INITIALIZER_CALL {
                return Err(PoolError::Encode {
                    stage: self.initializer_stage(),
                    reason,
                });
            }
            self.fail_job(job, None, |stage| PoolError::Encode {
                stage,
                reason: reason.clone(),
            });
        }
        Ok(())
    }

    /// Reads every message a worker has sent.
    fn read_from(&mut self, index: usize) -> Result<(), PoolError> {
        loop {
            let Some(link) = self.link_mut(index) else {
                return Ok(());
            };
            let received = link.receive();
            match received {
                Ok(Received::Nothing) => {}
                Ok(Received::Reply(reply)) => self.answered(index, reply)?,
                Ok(Received::Panicking { item, message }) => {
                    // A panic while unwinding reports again: the first message is the one.
                    if let State::Busy { panicking, .. } =
                        &mut self.workers[index].state
                        && panicking.as_ref().is_none_or(|(seen, _)| *seen != item)
                    {
                        *panicking = Some((item, message));
                    }
                }
                Ok(Received::Unasked(what)) => {
                    let _ = self.workers[index].process.kill();
                    return self.lose_worker(index, |worker, stage| {
                        PoolError::Protocol {
                            worker,
                            stage,
                            what,
                        }
                    });
                }
                Ok(Received::Closed) => return self.worker_ended(index),
                Err(error) => match error.kind() {
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => {
                        return self.worker_ended(index);
                    }
                    ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                        let waited = self.settings.timeout;
                        let _ = self.workers[index].process.kill();
                        return self.lose_worker(index, |worker, stage| {
                            PoolError::TimedOut {
                                worker,
                                stage,
                                waited,
                            }
                        });
                    }
                    _ => {
                        let _ = self.workers[index].process.kill();
                        let source = Arc::new(error);
                        return self.lose_worker(index, |worker, stage| {
                            PoolError::Channel {
                                worker,
                                stage,
                                source: io::Error::new(
                                    source.kind(),
                                    source.to_string(),
                                ),
                            }
                        });
                    }
                },
            }
            let more = self.workers[index]
                .state
                .link()
                .is_some_and(|l| l.channel.has_buffered_input());
            if !more {
                return Ok(());
            }
        }
    }

    fn link_mut(&mut self, index: usize) -> Option<&mut Link> {
        match &mut self.workers[index].state {
            State::Idle(link) | State::Busy { link, .. } => Some(link),
            State::Gone => None,
        }
    }

    /// The reply to the oldest job a worker holds.
    fn answered(&mut self, index: usize, reply: Reply) -> Result<(), PoolError> {
        let worker = &mut self.workers[index];
        let State::Busy {
            held,
            since,
            panicking,
            ..
        } = &mut worker.state
        else {
            unreachable!("a reply comes only to a job held")
        };
        let front = held.front().expect("the link awaited it");
        let answers_each_input = match &reply {
            Reply::Done { outcomes, .. } => outcomes.len() == front.positions.len(),
            _ => true,
        };
        if !answers_each_input && front.call != INITIALIZER_CALL {
            // Not believed again: its job fails, the jobs it had not begun are requeued.
            let _ = worker.process.kill();
            return self.lose_worker(index, |worker, stage| PoolError::Protocol {
                worker,
                stage,
                what: "it answered with the wrong number of results",
            });
        }
        let job = held.pop_front().expect("the link awaited it");
        *since = Instant::now();
        *panicking = None;
        if held.is_empty()
            && let State::Busy { link, .. } =
                std::mem::replace(&mut worker.state, State::Gone)
        {
            worker.state = State::Idle(link);
        }
        worker.served += job.positions.len();
        let name = Arc::clone(&worker.name);
        if job.call == INITIALIZER_CALL {
            if let Err(error) = self.initialized(index, reply) {
                self.initializer_failures.push((index, error));
            }
            return self.first_initializer_failure();
        }
        let outcomes = match reply {
            Reply::Done { outcomes, .. } if outcomes.len() == job.positions.len() => {
                outcomes
            }
            Reply::Refused { reason, .. } => {
                let worker = name.to_string();
                self.fail_job(job, None, |stage| PoolError::Refused {
                    worker: worker.clone(),
                    stage,
                    reason: reason.clone(),
                });
                return Ok(());
            }
            _ => unreachable!("a reply with the wrong number of results is lost above"),
        };
        let Some(call) = self.calls.get_mut(&job.call) else {
            return Ok(());
        };
        call.outstanding -= job.positions.len();
        if call.abandoned {
            if call.outstanding == 0 {
                self.calls.remove(&job.call);
            }
            return Ok(());
        }
        for (&position, outcome) in job.positions.iter().zip(outcomes) {
            let stage = task_stage(job.task, position);
            let result = match outcome {
                Outcome::Value(output) => Ok(Delivered {
                    output,
                    worker: Arc::clone(&name),
                }),
                Outcome::Panicked(message) => Err(PoolError::Panicked {
                    worker: name.to_string(),
                    stage,
                    message,
                }),
                Outcome::Failed(reason) => Err(PoolError::Refused {
                    worker: name.to_string(),
                    stage,
                    reason,
                }),
            };
            call.finished.push_back((position, result));
        }
        Ok(())
    }

    /// Once no worker is running its initializer: the failure of the first worker, by
    /// place, whose initializer failed, which breaks the pool.
    fn first_initializer_failure(&mut self) -> Result<(), PoolError> {
        let initializing = self.workers.iter().any(|w| match &w.state {
            State::Busy { held, .. } => held.iter().any(|j| j.call == INITIALIZER_CALL),
            _ => false,
        });
        if initializing || self.initializer_failures.is_empty() {
            return Ok(());
        }
        let failures = std::mem::take(&mut self.initializer_failures);
        let first = failures.into_iter().min_by_key(|(index, _)| *index);
        first.map_or(Ok(()), |(_, error)| Err(error))
    }

    /// A worker's answer to its initializer: a failure breaks the pool, which cannot
    /// start a worker that can serve.
    fn initialized(&mut self, index: usize, reply: Reply) -> Result<(), PoolError> {
        let worker = self.workers[index].name.to_string();
        let message = match reply {
            Reply::Done { mut outcomes, .. } if outcomes.len() == 1 => {
                match outcomes.pop().expect("one outcome") {
                    Outcome::Value(output) => {
                        match crate::worker::wire::decode::<Result<(), String>>(&output)
                        {
                            Ok(Ok(())) => return Ok(()),
                            Ok(Err(message)) => message,
                            Err(reason) => reason,
                        }
                    }
                    Outcome::Panicked(message) => {
                        let stage = self.initializer_stage();
                        return Err(PoolError::Panicked {
                            worker,
                            stage,
                            message,
                        });
                    }
                    Outcome::Failed(reason) => reason,
                }
            }
            Reply::Refused { reason, .. } => {
                let stage = self.initializer_stage();
                return Err(PoolError::Refused {
                    worker,
                    stage,
                    reason,
                });
            }
            _ => "it answered with the wrong number of results".to_owned(),
        };
        Err(PoolError::InitializerFailed { worker, message })
    }

    fn initializer_stage(&self) -> Stage {
        Stage::Initializer {
            name: self.settings.initializer.map_or("", |i| i.name()),
        }
    }

    /// A worker whose channel reached end-of-file, or whose exit was seen.
    fn worker_ended(&mut self, index: usize) -> Result<(), PoolError> {
        let limit = self.settings.timeout;
        let exit = self.workers[index].process.wait_within(limit);
        match exit {
            Ok(Some(exit)) => {
                self.lose_worker(index, |worker, stage| PoolError::Died {
                    worker,
                    stage,
                    exit,
                })
            }
            Ok(None) => {
                let _ = self.workers[index].process.kill();
                self.lose_worker(index, |worker, stage| PoolError::TimedOut {
                    worker,
                    stage,
                    waited: limit,
                })
            }
            Err(source) => {
                let source = Arc::new(source);
                self.lose_worker(index, |worker, stage| PoolError::Channel {
                    worker,
                    stage,
                    source: io::Error::new(source.kind(), source.to_string()),
                })
            }
        }
    }

    // ANCHOR: lose_worker
    /// A worker that is gone or killed: the job it was running fails with `error`, the
    /// jobs it had not begun go back to the front of the queue, and a new worker takes
    /// its place. One that never started to serve is not replaced: the next would fail
    /// the same way, so the pool breaks.
    fn lose_worker(
        &mut self,
        index: usize,
        error: impl Fn(String, Stage) -> PoolError,
    ) -> Result<(), PoolError> {
        let worker = &mut self.workers[index];
        let name = worker.name.to_string();
        let state = std::mem::replace(&mut worker.state, State::Gone);
        // Killed or ended: reaped now, so that no zombie is left.
        let _ = worker.process.try_wait().and_then(|done| match done {
            Some(_) => Ok(()),
            None => worker.process.wait().map(drop),
        });
        let (link, held, panicking) = match state {
            State::Idle(link) => (link, VecDeque::new(), None),
            State::Busy {
                link,
                held,
                panicking,
                ..
            } => (link, held, panicking),
            State::Gone => return Ok(()),
        };
        let never_served = match held.front() {
            _ if !link.ready => Some(Stage::Starting),
            Some(job) if job.call == INITIALIZER_CALL => Some(self.initializer_stage()),
            _ => None,
        };
        if let Some(stage) = never_served {
            // Its jobs are failed with the pool, which breaks.
            for job in held
                .into_iter()
                .rev()
                .filter(|j| j.call != INITIALIZER_CALL)
            {
                self.queue.push_front(job);
            }
            return Err(error(name, stage));
        }
        let mut held = held.into_iter();
        match held.next() {
            Some(job) => {
                let limit = job.limit;
                let failed = |stage: Stage| match error(name.clone(), stage) {
                    PoolError::TimedOut { worker, stage, .. } => PoolError::TimedOut {
                        worker,
                        stage,
                        waited: limit,
                    },
                    other => other,
                };
                self.fail_job(
                    job,
                    panicking.map(|(item, m)| (item, m, name.clone())),
                    failed,
                );
            }
            None => self.unreported.push(error(name, Stage::Idle)),
        }
        for job in held.rev() {
            self.queue.push_front(job);
        }
        self.launch_worker(Some(index))
    }
    // ANCHOR_END: lose_worker

    /// Fails every input of `job`; the one that was panicking, with its message.
    fn fail_job(
        &mut self,
        job: Job,
        panicking: Option<(u32, String, String)>,
        error: impl Fn(Stage) -> PoolError,
    ) {
        let Some(call) = self.calls.get_mut(&job.call) else {
            return;
        };
        call.outstanding -= job.positions.len();
        if call.abandoned {
            if call.outstanding == 0 {
                self.calls.remove(&job.call);
            }
            return;
        }
        for (item, &position) in job.positions.iter().enumerate() {
            let stage = task_stage(job.task, position);
            let failure = match &panicking {
                Some((at, message, worker)) if *at as usize == item => {
                    PoolError::Panicked {
                        worker: worker.clone(),
                        stage,
                        message: message.clone(),
                    }
                }
                _ => error(stage),
            };
            call.finished.push_back((position, Err(failure)));
        }
    }

    /// Workers that have run their `max_tasks_per_child` and hold nothing: closed,
    /// reaped, and replaced.
    fn retire_spent(&mut self) -> Result<(), PoolError> {
        let Some(most) = self.settings.max_tasks_per_child else {
            return Ok(());
        };
        for index in 0..self.workers.len() {
            let worker = &self.workers[index];
            if worker.served < most || !matches!(worker.state, State::Idle(_)) {
                continue;
            }
            let deadline = Instant::now() + self.settings.timeout;
            if let Some(link) = worker.state.link() {
                link.channel.close_for_writing();
            }
            if let Err(error) = self.reap_leaving(index, deadline) {
                self.unreported.push(error);
            }
            self.launch_worker(Some(index))?;
        }
        Ok(())
    }

    /// Starts a worker, in place `replacing` or at the end; with an initializer, the
    /// worker holds it as its first job.
    fn launch_worker(&mut self, replacing: Option<usize>) -> Result<(), PoolError> {
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
        let worker = Worker {
            name: name.into(),
            process,
            state: State::Idle(Link::new(channel, ready)),
            served: 0,
        };
        let index = match replacing {
            Some(index) => {
                self.workers[index] = worker;
                index
            }
            None => {
                self.workers.push(worker);
                self.workers.len() - 1
            }
        };
        if let Some(initializer) = self.settings.initializer {
            self.send(index, initializer_job(initializer, self.settings.timeout))?;
        }
        Ok(())
    }

    /// A failure that breaks the pool: the workers are killed and every input owed
    /// fails, the first with `error` itself (or the next input asked for, if none is
    /// owed).
    fn break_and_fail_all(&mut self, error: PoolError) -> PoolError {
        let error = self.break_down(error);
        let cause = error.to_string();
        self.untold = Some(error);
        self.fail_everything();
        PoolError::Broken { cause }
    }

    /// The pool broke: every input still owed to a call fails, the first with the
    /// failure that broke it if no caller has heard of it yet.
    fn fail_everything(&mut self) {
        let cause = self.broken.clone().unwrap_or_default();
        let broken = || PoolError::Broken {
            cause: cause.clone(),
        };
        let mut jobs: Vec<Job> = self.queue.drain(..).collect();
        for worker in &mut self.workers {
            if let State::Busy { held, .. } = &mut worker.state {
                jobs.extend(held.drain(..));
            }
        }
        // In the order of the inputs, so that the first input owed hears the cause.
        jobs.sort_by_key(|job| (job.call, job.positions.first().copied()));
        for job in jobs {
            let first = std::cell::Cell::new(self.untold.take());
            self.fail_job(job, None, |_| first.take().unwrap_or_else(broken));
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

    /// After a failure that breaks the pool: kills and reaps every worker, and keeps the
    /// cause.
    fn break_down(&mut self, error: PoolError) -> PoolError {
        self.broken.get_or_insert_with(|| error.to_string());
        // Kill before closing: a worker that saw its channel close would have time to
        // speak.
        let live = |w: &&mut Worker| !matches!(w.state, State::Gone);
        for worker in self.workers.iter_mut().filter(live) {
            let _ = worker.process.kill();
        }
        for worker in self.workers.iter_mut().filter(live) {
            // What it held fails with the rest of the queue (`fail_everything`).
            if let State::Busy { held, .. } = &mut worker.state {
                for job in held.drain(..).filter(|j| j.call != INITIALIZER_CALL) {
                    self.queue.push_back(job);
                }
            }
            worker.state = State::Gone;
            let _ = worker.process.wait();
        }
        error
    }
}

/// Where an input of a call stands, as an error says it.
fn task_stage(task: &'static str, position: usize) -> Stage {
    Stage::Task {
        name: task,
        input: position + 1,
    }
}

/// A new worker's first job: its initializer, on no input.
fn initializer_job(initializer: Initializer, limit: Duration) -> Job {
    Job {
        call: INITIALIZER_CALL,
        task: initializer.name(),
        positions: vec![0],
        inputs: vec![Bytes::default()],
        limit,
        pipelined: false,
    }
}

// A pool can move to another thread: the compiler checks it here.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Pool>();
};
