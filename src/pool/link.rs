//! The pool's end of one worker's channel.

use std::io;

use crate::worker::channel::{Channel, Reply};
use crate::worker::error::Stage;

/// The pool's end of a worker's channel.
///
/// A worker that runs code of its own before it serves (a spawned one runs `main`) says
/// `Ready` first, and may fail before it does. The pool does not wait for that message:
/// the link reads it in front of the first reply, and knows until then that whatever
/// went wrong went wrong while the worker was starting.
pub(super) struct Link {
    pub(super) channel: Channel,
    pub(super) ready: bool,
}

/// What a link had to read.
pub(super) enum Received {
    Reply(Reply),
    /// Only the worker's `Ready`: its reply is still to come.
    Nothing,
    /// End-of-file: the worker has closed its end, so it is gone or going.
    Closed,
}

impl Link {
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
        Ok(message.map_or(Received::Closed, Received::Reply))
    }

    /// `stage`, or `Starting` for a worker that has not said it is ready: whatever it was
    /// sent, it never began to serve.
    pub(super) fn stage(&self, stage: Stage) -> Stage {
        if self.ready { stage } else { Stage::Starting }
    }
}
