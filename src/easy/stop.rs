//! [`StopHandle`]: ends a server's `run()` from outside, from any task or thread.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use event_listener::{Event, EventListener};

#[derive(Debug, Default)]
struct State {
    stopped: AtomicBool,
    /// Waiters register here and leave when dropped, so a server that waits once per
    /// request keeps no trace of the requests it served.
    event: Event,
}

/// Stops the `run()` loop of the server it came from: the request being handled is
/// answered, then `run()` returns `Ok(())`.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<State>);

impl StopHandle {
    /// Asks the server to stop.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        self.0.event.notify(usize::MAX);
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// A future that completes once [`StopHandle::stop`] has been called.
    pub fn stopped(&self) -> Stopped {
        Stopped {
            state: Arc::clone(&self.0),
            listener: None,
        }
    }
}

/// Completes once its [`StopHandle`] is stopped (from [`StopHandle::stopped`]). It may be
/// polled again and again, as a server loop does between requests, and holds at most one
/// registration however often it is polled.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Stopped {
    state: Arc<State>,
    listener: Option<EventListener>,
}

impl Future for Stopped {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.state.stopped.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            match &mut self.listener {
                // Listening starts before the flag is read again (the top of the loop), so
                // a stop in between is not missed.
                None => self.listener = Some(self.state.event.listen()),
                Some(listener) => {
                    ready!(Pin::new(listener).poll(cx));
                    self.listener = None;
                }
            }
        }
    }
}
