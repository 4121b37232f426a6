//! How a pool ends: every channel closed, every worker waited for, none left behind.

use std::io::ErrorKind;
use std::time::Instant;

use super::{Pool, State};
use crate::pool::link::Received;
use crate::pool::readiness::{self, Seen, Watched};
use crate::worker::error::{PoolError, Stage, WorkerExit};

impl Pool {
    // ANCHOR: close_and_reap
    /// Closes every channel for writing, so that every worker sees end-of-file and
    /// leaves; then waits, with `poll`, until each has closed its end (it has exited, or
    /// is exiting) and reaps it. A worker still there when the timeout runs out is
    /// killed. The channel is the exit's sentinel, as in CPython's `Popen.wait`.
    pub(super) fn close_and_reap(&mut self) -> Result<(), PoolError> {
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

    /// What a worker is doing as it leaves: shutting down, or still starting.
    fn leaving_stage(&self, index: usize) -> Stage {
        self.workers[index]
            .state
            .link()
            .map_or(Stage::ShuttingDown, |link| link.stage(Stage::ShuttingDown))
    }

    /// Reads what a leaving worker still sends (a spawned worker's `Ready`, results
    /// nobody waits for); at end-of-file, reaps it.
    fn drain(&mut self, index: usize, deadline: Instant) -> Result<(), PoolError> {
        let (State::Idle(link) | State::Busy { link, .. }) =
            &mut self.workers[index].state
        else {
            return Ok(());
        };
        let received = link.receive();
        // A worker that never said it was ready never served, whatever its exit code.
        let stage = link.stage(Stage::ShuttingDown);
        let ended = match received {
            Ok(Received::Nothing | Received::Reply(_) | Received::Panicking { .. }) => {
                return Ok(());
            }
            Ok(Received::Unasked(what)) => {
                let worker = self.workers[index].name.to_string();
                self.kill_now(index);
                return Err(PoolError::Protocol {
                    worker,
                    stage,
                    what,
                });
            }
            Ok(Received::Closed) => true,
            Err(e) => {
                matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset)
            }
        };
        if !ended {
            // A read that failed otherwise (a message cut short, then silence): the
            // worker may still run, so it is not waited for but killed.
            return Err(self.killed_overdue(index, stage));
        }
        self.reap_leaving(index, deadline)
    }

    /// Reaps a worker that has left after its channel was closed: an exit with code 0
    /// is what it was asked for.
    pub(super) fn reap_leaving(
        &mut self,
        index: usize,
        deadline: Instant,
    ) -> Result<(), PoolError> {
        let stage = self.leaving_stage(index);
        let left = deadline.saturating_duration_since(Instant::now());
        let worker = &mut self.workers[index];
        worker.state = State::Gone;
        let name = worker.name.to_string();
        match worker.process.wait_within(left) {
            // Told to leave, it left; with SIGCHLD ignored, how is unknown.
            Ok(Some(WorkerExit::Code(0) | WorkerExit::Unknown))
                if stage == Stage::ShuttingDown =>
            {
                Ok(())
            }
            Ok(Some(exit)) => Err(PoolError::Died {
                worker: name,
                stage,
                exit,
            }),
            Ok(None) => Err(self.killed_overdue(index, stage)),
            Err(source) => Err(PoolError::Channel {
                worker: name,
                stage,
                source,
            }),
        }
    }

    /// A worker that has not closed its channel by the deadline: reaped if it has
    /// exited all the same (a process of its own may hold its end), killed otherwise.
    fn overdue(&mut self, index: usize) -> Result<(), PoolError> {
        let stage = self.leaving_stage(index);
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
                    worker: worker.name.to_string(),
                    stage,
                    exit,
                })
            }
            _ => Err(self.killed_overdue(index, stage)),
        }
    }

    /// Kills and reaps a worker that did not leave in time.
    fn killed_overdue(&mut self, index: usize, stage: Stage) -> PoolError {
        self.kill_now(index);
        PoolError::TimedOut {
            worker: self.workers[index].name.to_string(),
            stage,
            waited: self.settings.timeout,
        }
    }

    fn kill_now(&mut self, index: usize) {
        let worker = &mut self.workers[index];
        worker.state = State::Gone;
        let _ = worker.process.kill();
        let _ = worker.process.wait();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The program is unwinding: its workers' results will never be read.
            let _ = self.break_down(PoolError::Broken {
                cause: "the program panicked".to_owned(),
            });
        } else {
            let _ = self.close_and_reap();
        }
    }
}
