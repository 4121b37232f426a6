//! The pool's end of one worker's channel.

use std::collections::VecDeque;
use std::io;

use crate::worker::channel::{Bytes, Channel, Reply, Request};
use crate::worker::error::Stage;

/// The pool's end of a worker's channel.
///
/// A worker that runs code of its own before it serves (a spawned one runs `main`) says
/// `Ready` first, and may fail before it does. The pool does not wait for that message:
/// the link reads it in front of the first reply, and knows until then that whatever
/// went wrong went wrong while the worker was starting.
///
/// Each request carries a number, and the link knows which ones it awaits, in order: a
/// message about anything else (a process the task forked answering too) is
/// [`Received::Unasked`].
pub(super) struct Link {
    pub(super) channel: Channel,
    pub(super) ready: bool,
    /// The numbers of the requests sent and not yet answered, oldest first.
    awaited: VecDeque<u64>,
    sent: u64,
}

/// What a link had to read.
pub(super) enum Received {
    /// The answer to the oldest request awaited.
    Reply(Reply),
    /// A note on the oldest request awaited: its input at `item` is panicking.
    Panicking { item: u32, message: String },
    /// Only the worker's `Ready`: its reply is still to come.
    Nothing,
    /// A message that answers no request the link awaits: a second `Ready`, or a reply
    /// to a request already answered, or to none.
    Unasked(&'static str),
    /// End-of-file: the worker has closed its end, so it is gone or going.
    Closed,
}

impl Link {
    pub(super) fn new(channel: Channel, ready: bool) -> Link {
        Link {
            channel,
            ready,
            awaited: VecDeque::new(),
            sent: 0,
        }
    }

    /// The next request, numbered, and awaited from now on.
    pub(super) fn request(&mut self, task: &str, inputs: Vec<Bytes>) -> Request {
        self.sent += 1;
        self.awaited.push_back(self.sent);
        Request::Run {
            id: self.sent,
            task: task.to_owned(),
            inputs,
        }
    }

    /// Takes back the request numbered last, which could not be sent.
    pub(super) fn unsend(&mut self) {
        self.awaited.pop_back();
        self.sent -= 1;
    }

    pub(super) fn receive(&mut self) -> io::Result<Received> {
        let reply = match self.channel.receive()? {
            None => return Ok(Received::Closed),
            Some(Reply::Ready) if !self.ready => {
                self.ready = true;
                return Ok(Received::Nothing);
            }
            Some(reply) => reply,
        };
        let oldest = self.awaited.front().copied();
        Ok(match (reply.id(), reply) {
            (None, _) => Received::Unasked("it said it was ready twice"),
            (Some(id), _) if Some(id) != oldest => {
                Received::Unasked("it sent a reply nobody asked for")
            }
            (_, Reply::Panicking { item, message, .. }) => {
                Received::Panicking { item, message }
            }
            (_, reply) => {
                self.awaited.pop_front();
                Received::Reply(reply)
            }
        })
    }

    /// `stage`, or `Starting` for a worker that has not said it is ready: whatever it was
    /// sent, it never began to serve.
    pub(super) fn stage(&self, stage: Stage) -> Stage {
        if self.ready { stage } else { Stage::Starting }
    }
}
