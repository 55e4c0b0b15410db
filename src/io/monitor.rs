//! [`Monitor`]: the [`MonitorEvent`]s of one or more sockets as a
//! [`futures_core::Stream`].
//!
//! A monitor's bounded [`MonitorQueue`] is shared with the sockets it watches, which push
//! into it under their own lock as their core's events are dispatched (lock order: the
//! socket's state, then the monitor's). A monitor that is not read costs its queue's
//! capacity and nothing else, and never holds a socket up.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::pattern::monitor::DEFAULT_MONITOR_CAPACITY;
use crate::pattern::{MonitorEvent, MonitorQueue};

#[derive(Debug)]
struct State {
    queue: MonitorQueue,
    waker: Option<Waker>,
    /// Sockets watched that have not finished closing.
    sockets: usize,
    /// Whether any socket was ever watched (a fresh monitor does not end).
    attached: bool,
    /// The reader dropped the monitor: sockets stop pushing.
    dropped: bool,
}

/// A socket's end of a monitor: where it pushes its events.
#[derive(Debug, Clone)]
pub(crate) struct MonitorSink(Arc<Mutex<State>>);

impl MonitorSink {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A socket starts pushing here.
    pub(crate) fn attach(&self) {
        let mut state = self.lock();
        state.sockets += 1;
        state.attached = true;
    }

    /// Queues an event (or counts it missed); the reader's waker if it should look.
    /// `false` once the reader is gone, so the socket can forget this sink.
    pub(crate) fn push(&self, event: &MonitorEvent, wakers: &mut Vec<Waker>) -> bool {
        let mut state = self.lock();
        if state.dropped {
            return false;
        }
        if state.queue.push(event.clone()) {
            wakers.extend(state.waker.take());
        }
        true
    }

    /// The socket has closed and every task of it ended: it pushes no more.
    pub(crate) fn detach(&self, wakers: &mut Vec<Waker>) {
        let mut state = self.lock();
        state.sockets = state.sockets.saturating_sub(1);
        wakers.extend(state.waker.take());
    }
}

/// The events of the sockets it watches: listening, bind failed, accepted, connect
/// delayed, failed or retried (with the next delay), connected, handshake succeeded (with
/// the peer's socket type, routing id and metadata) or failed (with the typed reason),
/// disconnected (with the reason), closed. See [`MonitorEvent`].
///
/// Made by [`Socket::monitor`](super::Socket::monitor) (that socket's events from then
/// on), or made with [`Monitor::new`] and given to
/// [`SocketBuilder::monitor`](super::SocketBuilder::monitor) so it sees a socket's
/// events from its very first bind or connect (one monitor may watch several sockets;
/// their events interleave in the order they happened).
///
/// A [`futures_core::Stream`] that ends once every socket it watches has closed and all of
/// their tasks have ended (their last events, such as each listener's
/// [`Closed`](MonitorEvent::Closed), come first). It holds at most its capacity (1024 by
/// default): when the reader lags, newer events are dropped and a
/// [`MonitorEvent::Missed`] with their count marks the gap, so sockets never wait for
/// their monitor, and events that come out are in order. Dropping it stops the recording.
#[derive(Debug)]
pub struct Monitor {
    sink: MonitorSink,
}

impl Monitor {
    /// A monitor watching nothing yet, holding up to 1024 events for a reader that lags.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_MONITOR_CAPACITY)
    }

    /// A monitor holding up to `capacity` events for a reader that lags.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            sink: MonitorSink(Arc::new(Mutex::new(State {
                queue: MonitorQueue::new(capacity),
                waker: None,
                sockets: 0,
                attached: false,
                dropped: false,
            }))),
        }
    }

    pub(crate) fn sink(&self) -> MonitorSink {
        self.sink.clone()
    }

    /// The next event if one is queued, without waiting.
    pub fn try_next(&self) -> Option<MonitorEvent> {
        self.sink.lock().queue.pop()
    }

    /// Events dropped so far because the monitor was not read fast enough.
    pub fn missed(&self) -> u64 {
        self.sink.lock().queue.missed_total()
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new()
    }
}

impl futures_core::Stream for Monitor {
    type Item = MonitorEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        let mut state = self.sink.lock();
        if let Some(event) = state.queue.pop() {
            return Poll::Ready(Some(event));
        }
        if state.attached && state.sockets == 0 {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.sink.lock().dropped = true;
    }
}
