//! The pool's end of one worker's channel.

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
/// Each request carries a number, and the link knows which one it awaits: a reply to
/// anything else (a process the task forked answering too) is [`Received::Unasked`].
pub(super) struct Link {
    pub(super) channel: Channel,
    pub(super) ready: bool,
    /// The number of the request sent last, if its reply has not come yet.
    awaited: Option<u64>,
    sent: u64,
}

/// What a link had to read.
pub(super) enum Received {
    Reply(Reply),
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
            awaited: None,
            sent: 0,
        }
    }

    /// The next request, numbered, and awaited from now on.
    pub(super) fn request(&mut self, task: &str, input: Bytes) -> Request {
        self.sent += 1;
        self.awaited = Some(self.sent);
        Request::Run {
            id: self.sent,
            task: task.to_owned(),
            input,
        }
    }

    pub(super) fn receive(&mut self) -> io::Result<Received> {
        let message = match self.channel.receive()? {
            None => return Ok(Received::Closed),
            Some(Reply::Ready) if !self.ready => {
                self.ready = true;
                // A reply that came with it is read now; otherwise back to `poll`.
                if !self.channel.has_buffered_input() {
                    return Ok(Received::Nothing);
                }
                self.channel.receive()?
            }
            Some(reply) => Some(reply),
        };
        let Some(reply) = message else {
            return Ok(Received::Closed);
        };
        Ok(match reply.id() {
            None => Received::Unasked("it said it was ready twice"),
            Some(id) if Some(id) == self.awaited => {
                self.awaited = None;
                Received::Reply(reply)
            }
            Some(_) => Received::Unasked("it sent a reply nobody asked for"),
        })
    }

    /// `stage`, or `Starting` for a worker that has not said it is ready: whatever it was
    /// sent, it never began to serve.
    pub(super) fn stage(&self, stage: Stage) -> Stage {
        if self.ready { stage } else { Stage::Starting }
    }
}
