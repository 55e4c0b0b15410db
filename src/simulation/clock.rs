//! Virtual time: a clock that moves only when the world has nothing left to run at the
//! current instant, and the timers that wait on it.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::io::Timer;

/// A timer's place among the clock's timers: its deadline, then the order it was set in.
type Key = (Duration, u64);

#[derive(Debug, Default)]
struct State {
    /// Time since the epoch.
    now: Duration,
    timers: BTreeMap<Key, Waker>,
    next: u64,
}

/// The world's clock: `epoch` plus the time simulated so far.
#[derive(Debug)]
pub(crate) struct Clock {
    epoch: Instant,
    state: Mutex<State>,
}

impl Clock {
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> Instant {
        self.epoch + self.elapsed()
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.lock().now
    }

    pub(crate) fn since_epoch(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.epoch)
    }

    /// Wakes `waker` once the clock reaches `at` (since the epoch); `key` is the timer's
    /// previous registration, replaced.
    fn register(&self, at: Duration, key: &mut Option<Key>, waker: &Waker) {
        let mut state = self.lock();
        if let Some(old) = key.take() {
            state.timers.remove(&old);
        }
        state.next += 1;
        let new = (at, state.next);
        state.timers.insert(new, waker.clone());
        *key = Some(new);
    }

    fn cancel(&self, key: &mut Option<Key>) {
        if let Some(old) = key.take() {
            self.lock().timers.remove(&old);
        }
    }

    /// Wakes `waker` once the clock reaches `at` (since the epoch); it cannot be cancelled.
    pub(crate) fn wake_at(&self, at: Duration, waker: Waker) {
        let mut state = self.lock();
        state.next += 1;
        let key = (at, state.next);
        state.timers.insert(key, waker);
    }

    /// When the next timer is due.
    pub(crate) fn next_deadline(&self) -> Option<Duration> {
        self.lock().timers.keys().next().map(|(at, _)| *at)
    }

    /// Moves the clock to `to` (never back) and takes the wakers of every timer due.
    pub(crate) fn advance_to(&self, to: Duration) -> Vec<Waker> {
        let mut state = self.lock();
        state.now = state.now.max(to);
        let now = state.now;
        let mut due = Vec::new();
        while let Some(entry) = state.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        due
    }
}

/// A timer on the virtual clock, for the sockets' [`Runtime`](crate::io::Runtime).
#[derive(Debug)]
pub(crate) struct VirtualTimer {
    clock: Arc<Clock>,
    deadline: Duration,
    key: Option<Key>,
}

impl VirtualTimer {
    pub(crate) fn new(clock: Arc<Clock>, deadline: Instant) -> Self {
        let deadline = clock.since_epoch(deadline);
        Self {
            clock,
            deadline,
            key: None,
        }
    }

    /// Ready once the clock has reached the deadline.
    pub(crate) fn poll_at(&mut self, cx: &Context<'_>) -> Poll<()> {
        if self.clock.elapsed() >= self.deadline {
            self.clock.cancel(&mut self.key);
            return Poll::Ready(());
        }
        self.clock
            .register(self.deadline, &mut self.key, cx.waker());
        Poll::Pending
    }
}

impl Timer for VirtualTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = self.clock.since_epoch(deadline);
        let this = &mut *self;
        this.clock.cancel(&mut this.key);
    }

    fn poll_fired(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_at(cx)
    }
}

impl Drop for VirtualTimer {
    fn drop(&mut self) {
        self.clock.cancel(&mut self.key);
    }
}

/// Waits until the virtual clock has reached `deadline`.
pub(crate) async fn sleep_until(clock: Arc<Clock>, deadline: Instant) {
    let mut timer = VirtualTimer::new(clock, deadline);
    std::future::poll_fn(|cx| timer.poll_at(cx)).await;
}
