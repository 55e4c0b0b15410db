//! [`TokioRuntime`]: zmq-sansio's sockets on a tokio runtime, through the executor seam.
//!
//! The crate has no tokio dependency; this is all it takes to give one its tasks and its
//! timers. Readiness of the sockets themselves still comes from async-io's reactor, which
//! runs beside tokio's.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use zmq_sansio::io::{Runtime, Task, Timer};

/// Spawns on, and keeps time with, the tokio runtime behind a handle.
#[derive(Debug, Clone)]
pub struct TokioRuntime(pub tokio::runtime::Handle);

impl Runtime for TokioRuntime {
    fn spawn(&self, task: Task) {
        self.0.spawn(task);
    }

    fn timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        // Entered, so that a timer can also be made from outside the runtime's threads.
        let _context = self.0.enter();
        Box::pin(TokioTimer(Box::pin(tokio::time::sleep_until(
            deadline.into(),
        ))))
    }
}

struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl fmt::Debug for TokioTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokioTimer")
            .field(&self.0.deadline())
            .finish()
    }
}

impl Timer for TokioTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }

    fn poll_fired(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}
