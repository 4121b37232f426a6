//! What a program asks of a pool, typed: map a task over inputs (all at once, in order
//! as they come, or as they complete), or submit one input and hold a handle to it.
//! Each call's inputs are encoded here and its results decoded here; the engine
//! (`running.rs`) sees only bytes.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::running::{Delivered, Job, Pool};
use crate::worker::error::{PoolError, Stage};
use crate::worker::task::Task;
use crate::worker::wire;

impl Pool {
    // ANCHOR: map
    /// Runs `task` on every input, spread over the workers, and returns the results in
    /// the order of the inputs, or the first input's failure, as Python's
    /// `list(executor.map(task, inputs))` does.
    ///
    /// A failure is that input's alone: the pool goes on, and the next call runs as if
    /// nothing had happened. For every input's result, failures included, use
    /// [`Pool::imap`].
    ///
    /// # Errors
    ///
    /// The failure of the first input, by position, that failed: its task panicked
    /// ([`PoolError::Panicked`]), its worker died or ran out of time (and was replaced),
    /// it did not encode, or its result did not decode.
    pub fn map<I, O>(
        &mut self,
        task: Task<I, O>,
        inputs: impl IntoIterator<Item = I>,
    ) -> Result<Vec<O>, PoolError>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        self.check_running()?;
        self.imap(task, inputs).collect()
    }
    // ANCHOR_END: map

    /// Runs `task` on every input and yields each input's result, in the order of the
    /// inputs, as soon as it and those before it are done: Python's `Pool.imap`.
    ///
    /// Dropping the iterator early drops the inputs not yet sent; the results of those
    /// running are thrown away as they come.
    ///
    /// ```no_run
    /// # extern crate forkspawn;
    /// # use forkspawn::{Pool, StartMethod, task};
    /// fn halve(x: u32) -> u32 {
    ///     assert!(x.is_multiple_of(2), "{x} is odd");
    ///     x / 2
    /// }
    /// # fn main() -> Result<(), forkspawn::PoolError> {
    /// # forkspawn::init();
    /// let mut pool = Pool::new(StartMethod::Spawn, 2)?;
    /// let results: Vec<_> = pool.imap(task!(halve), [2, 3, 4]).collect();
    /// assert_eq!(results[0].as_ref().ok(), Some(&1));
    /// assert!(results[1].is_err()); // 3 is odd: that input failed, and only it
    /// assert_eq!(results[2].as_ref().ok(), Some(&2));
    /// # pool.shutdown()
    /// # }
    /// ```
    pub fn imap<I, O>(
        &mut self,
        task: Task<I, O>,
        inputs: impl IntoIterator<Item = I>,
    ) -> Results<'_, O>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        let (call, total) = self.open(task, inputs, true);
        Results {
            pool: self,
            call,
            task: task.name(),
            next: 0,
            total,
            early: BTreeMap::new(),
            output: PhantomData,
        }
    }

    /// Runs `task` on every input and yields `(position, result)` for each input as soon
    /// as it is done, whatever its position: Python's `Pool.imap_unordered`, or
    /// `as_completed` over `submit`'s futures.
    pub fn imap_unordered<I, O>(
        &mut self,
        task: Task<I, O>,
        inputs: impl IntoIterator<Item = I>,
    ) -> Unordered<'_, O>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        let (call, _) = self.open(task, inputs, true);
        Unordered {
            pool: self,
            call,
            task: task.name(),
            output: PhantomData,
        }
    }

    /// Queues `task` on one input and returns at once with a [`Handle`] to its result:
    /// Python's `executor.submit`. Wait for it with [`Pool::wait`], or stop it with
    /// [`Pool::kill`]. The task runs while the pool is driven: by `wait`, or by any
    /// other call on this pool.
    ///
    /// # Errors
    ///
    /// [`PoolError::Broken`] if the pool runs nothing more.
    pub fn submit<I, O>(
        &mut self,
        task: Task<I, O>,
        input: I,
    ) -> Result<Handle<O>, PoolError>
    where
        I: Serialize,
        O: DeserializeOwned,
    {
        self.check_running()?;
        let (call, _) = self.open(task, [input], false);
        Ok(Handle {
            call,
            task: task.name(),
            output: PhantomData,
        })
    }

    /// Waits at most `limit` for a submitted task's result. `None` if it is not done
    /// by then: it goes on, and can be waited for again.
    ///
    /// ```no_run
    /// # extern crate forkspawn;
    /// # use std::time::Duration;
    /// # use forkspawn::{Pool, StartMethod, task};
    /// fn square(x: u64) -> u64 {
    ///     x * x
    /// }
    /// # fn main() -> Result<(), forkspawn::PoolError> {
    /// # forkspawn::init();
    /// let mut pool = Pool::new(StartMethod::Spawn, 1)?;
    /// let handle = pool.submit(task!(square), 12)?;
    /// let result = pool.wait(&handle, Duration::from_secs(5));
    /// assert_eq!(result.transpose()?, Some(144));
    /// # pool.shutdown()
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The task's failure, as for [`Pool::map`]; [`PoolError::AlreadyTaken`] for a
    /// handle whose result was already returned.
    pub fn wait<O: DeserializeOwned>(
        &mut self,
        handle: &Handle<O>,
        limit: Duration,
    ) -> Option<Result<O, PoolError>> {
        if !self.is_open(handle.call) {
            return Some(Err(PoolError::AlreadyTaken));
        }
        let until = Instant::now() + limit;
        let (position, result) = self.next_of(handle.call, Some(until))?;
        self.abandon(handle.call);
        Some(decode(handle.task, position, result))
    }

    /// Stops a submitted task: dropped from the queue if it has not been sent, or its
    /// worker killed and replaced if it runs. A later [`Pool::wait`] returns
    /// [`PoolError::Killed`]. False if there was nothing to stop (it is done).
    pub fn kill<O>(&mut self, handle: &Handle<O>) -> bool {
        self.kill_call(handle.call)
    }

    /// Opens a call of `task` on `inputs`, in chunks of the task's chunksize; returns
    /// it and how many inputs it has.
    fn open<I: Serialize, O>(
        &mut self,
        task: Task<I, O>,
        inputs: impl IntoIterator<Item = I>,
        pipelined: bool,
    ) -> (u64, usize) {
        let limit = task.limit().unwrap_or(self.settings.timeout);
        let chunk = task.inputs_per_request();
        let mut refused = Vec::new();
        let mut total = 0;
        let call = self.open_call(|call| {
            let mut jobs: Vec<Job> = Vec::new();
            for (position, input) in inputs.into_iter().enumerate() {
                total += 1;
                let encoded = match wire::encode(&input) {
                    Ok(encoded) => encoded,
                    Err(reason) => {
                        refused.push((position, reason));
                        continue;
                    }
                };
                match jobs.last_mut() {
                    Some(job) if job.inputs.len() < chunk => {
                        job.positions.push(position);
                        job.inputs.push(encoded);
                    }
                    _ => jobs.push(Job {
                        call,
                        task: task.name(),
                        positions: vec![position],
                        inputs: vec![encoded],
                        limit,
                        pipelined,
                    }),
                }
            }
            jobs
        });
        for (position, reason) in refused {
            let stage = Stage::Task {
                name: task.name(),
                input: position + 1,
            };
            self.fail_at_once(call, position, PoolError::Encode { stage, reason });
        }
        (call, total)
    }
}

/// A submitted task's result, to come: see [`Pool::submit`].
#[derive(Debug)]
#[must_use = "a handle is the only way to the task's result"]
pub struct Handle<O> {
    call: u64,
    task: &'static str,
    output: PhantomData<fn() -> O>,
}

/// The results of [`Pool::imap`], in the order of the inputs.
#[must_use = "the tasks run as the iterator is driven"]
pub struct Results<'pool, O> {
    pool: &'pool mut Pool,
    call: u64,
    task: &'static str,
    next: usize,
    total: usize,
    /// Results that came before those in front of them.
    early: BTreeMap<usize, Result<Delivered, PoolError>>,
    output: PhantomData<fn() -> O>,
}

impl<O: DeserializeOwned> Iterator for Results<'_, O> {
    type Item = Result<O, PoolError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == self.total {
            return None;
        }
        let result = loop {
            if let Some(result) = self.early.remove(&self.next) {
                break result;
            }
            let (position, result) = self.pool.next_of(self.call, None)?;
            if position == self.next {
                break result;
            }
            self.early.insert(position, result);
        };
        self.next += 1;
        Some(decode(self.task, self.next - 1, result))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.total - self.next;
        (left, Some(left))
    }
}

impl<O> Drop for Results<'_, O> {
    fn drop(&mut self) {
        self.pool.abandon(self.call);
    }
}

impl<O> std::fmt::Debug for Results<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Results")
            .field("task", &self.task)
            .field("next", &self.next)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// The results of [`Pool::imap_unordered`], as they complete.
#[must_use = "the tasks run as the iterator is driven"]
pub struct Unordered<'pool, O> {
    pool: &'pool mut Pool,
    call: u64,
    task: &'static str,
    output: PhantomData<fn() -> O>,
}

impl<O: DeserializeOwned> Iterator for Unordered<'_, O> {
    type Item = (usize, Result<O, PoolError>);

    fn next(&mut self) -> Option<Self::Item> {
        let (position, result) = self.pool.next_of(self.call, None)?;
        Some((position, decode(self.task, position, result)))
    }
}

impl<O> Drop for Unordered<'_, O> {
    fn drop(&mut self) {
        self.pool.abandon(self.call);
    }
}

impl<O> std::fmt::Debug for Unordered<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unordered")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// A result as the caller's type: the parent's own failure, not the worker's, if it
/// does not fit.
fn decode<O: DeserializeOwned>(
    task: &'static str,
    position: usize,
    result: Result<Delivered, PoolError>,
) -> Result<O, PoolError> {
    let delivered = result?;
    wire::decode(&delivered.output).map_err(|reason| PoolError::Decode {
        worker: delivered.worker.to_string(),
        stage: Stage::Task {
            name: task,
            input: position + 1,
        },
        reason,
    })
}
