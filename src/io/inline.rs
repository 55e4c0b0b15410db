//! Inline IO: `send` and `recv` doing their connection's writing and reading on the
//! calling thread (or task) instead of handing it to the connection's task.
//!
//! A connection's [`Driver`] lives in a [`DriverCell`] that its task and callers share.
//! Whoever polls it uses the task's waker, so reactor registrations, timers and the
//! pattern's wake-ups keep going to the task whoever did the work; a caller only saves
//! handing the work over (to the connection's task and back). Three rules keep it correct:
//!
//! - **Never two pollers, never a lost poll.** The cell is taken with `try_lock`; one
//!   that finds it taken marks it dirty and leaves, and the holder polls again before
//!   leaving if it was marked while it polled. Nothing else ever holds the cell's lock.
//! - **A claimed readiness is always served.** A `recv` that waits may claim its peers'
//!   read readiness ([`ReadReady::claim`]): the reactor then wakes that caller, which reads
//!   itself. A claim given up without reading (a `recv` dropped or satisfied otherwise)
//!   hands the readiness back to the task ([`ReadClaims`]' drop). A readiness that reached
//!   the task just before the claim was armed is read by the caller too (it looks at the
//!   ready flag after arming).
//! - **The task stands aside while a caller owes a read**, and the caller's poll does
//!   everything the task's would (timers, output, stop requests). When the caller is on
//!   another thread than the one driving the reactor, the task is woken as well (to keep
//!   that thread driving the reactor, see `ReadReady`'s `wake`) and returns at once.
//!
//! Streaming patterns keep handing writes to the task, which batches a burst of small
//! messages into one system call; a caller writing each message itself would make one per
//! message. So inline IO is for the lockstep patterns (REQ and REP by default, see
//! [`SocketBuilder::inline_io`](super::SocketBuilder::inline_io)), where the next message
//! waits for an answer and there is never a batch to build.
//!
//! What it saves depends on where the caller waits. A caller in async-io's `block_on`
//! (`smol::block_on`) may itself be the thread waiting on the reactor: the readiness then
//! wakes nobody else. Under another executor's `block_on`, the reactor is on a third
//! thread and a round trip still takes four thread wake-ups, as without inline IO.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{Context, Poll, Waker};

use futures_io::{AsyncRead, AsyncWrite};

use super::driver::{Driver, Ended, ReadReady};
use crate::pattern::PeerId;

/// Peers whose reading one waiting `recv` claims, at most: beyond that the wake-ups a
/// caller would take on are not worth it (and the task reads as usual).
pub(crate) const MAX_CLAIMED_PEERS: usize = 8;

/// A connection's driver, shared between its task and inline callers.
pub(crate) struct DriverCell<S> {
    /// Taken out by the task once the connection has ended (the transport closes then,
    /// whoever still holds the cell). Only ever locked through [`run`](Self::run)'s
    /// protocol: a holder outside it could make a caller give up without anyone polling.
    driver: Mutex<Option<Driver<S>>>,
    /// How the connection ended, once a poll saw it; the task collects it.
    ended: Mutex<Option<Ended>>,
    /// The driver has returned its end (and is never polled again).
    finished: AtomicBool,
    /// Someone wanted to poll while the slot was taken: its holder polls again.
    dirty: AtomicBool,
    /// The task's waker, with which every poll is made.
    task: Mutex<Option<Waker>>,
    readable: Arc<ReadReady>,
    peer: PeerId,
}

/// What the socket's callers may do with a connection, whatever its stream type.
pub(crate) trait Drive: Send + Sync {
    /// Polls the driver here and now, as its task would (or has the holder poll again).
    fn drive(&self);
    /// Where the stream's read readiness goes.
    fn readable(&self) -> &ReadReady;
}

impl<S: AsyncRead + AsyncWrite + Unpin> DriverCell<S> {
    /// A cell holding `driver`.
    pub(crate) fn new(driver: Driver<S>) -> Arc<Self> {
        Arc::new(Self {
            peer: driver.peer(),
            readable: Arc::clone(driver.readable()),
            driver: Mutex::new(Some(driver)),
            ended: Mutex::new(None),
            finished: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            task: Mutex::new(None),
        })
    }

    /// The peer whose connection this is.
    pub(crate) fn peer(&self) -> PeerId {
        self.peer
    }

    /// The task's poll: drives the connection until it ends.
    pub(crate) fn poll_task(&self, cx: &mut Context<'_>) -> Poll<Ended> {
        {
            let mut task = lock(&self.task);
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        // A caller told of a readiness reads (and does everything else due); if it gives
        // up its claim instead, the task is woken again.
        if !self.readable.owed_to_caller() {
            self.run(cx.waker());
        }
        match lock(&self.ended).take() {
            Some(ended) => Poll::Ready(ended),
            None => Poll::Pending,
        }
    }

    /// The driver, once the task has seen it end; callers cannot poll it any more.
    pub(crate) fn take_driver(&self) -> Option<Driver<S>> {
        lock(&self.driver).take()
    }

    /// Polls the driver with `waker` unless someone else is (then they poll again);
    /// whether it ended in this call.
    fn run(&self, waker: &Waker) -> bool {
        let mut ended = false;
        loop {
            let mut slot = match self.driver.try_lock() {
                Ok(slot) => slot,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {
                    self.dirty.store(true, Ordering::SeqCst);
                    // The holder may have looked at `dirty` before we set it and be gone.
                    match self.driver.try_lock() {
                        Ok(slot) => slot,
                        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                        Err(TryLockError::WouldBlock) => return ended,
                    }
                }
            };
            self.dirty.store(false, Ordering::SeqCst);
            if let Some(driver) = slot
                .as_mut()
                .filter(|_| !self.finished.load(Ordering::SeqCst))
                && let Poll::Ready(result) = Pin::new(driver).poll(&mut Context::from_waker(waker))
            {
                // Never polled again: the task takes it out when it sees the end.
                self.finished.store(true, Ordering::SeqCst);
                *lock(&self.ended) = Some(result);
                ended = true;
            }
            drop(slot);
            if !self.dirty.load(Ordering::SeqCst) {
                return ended;
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Drive for DriverCell<S> {
    fn drive(&self) {
        // Before its task's first poll there is no waker to poll with; that poll comes.
        let Some(task) = lock(&self.task).clone() else {
            return;
        };
        if self.run(&task) {
            task.wake(); // the task finishes the connection
        }
    }

    fn readable(&self) -> &ReadReady {
        &self.readable
    }
}

/// The peers whose reading a waiting `recv` has claimed; dropping it (the `recv` done or
/// given up) hands any readiness it did not act on back to their tasks.
#[derive(Default)]
pub(crate) struct ReadClaims {
    peers: Vec<Arc<dyn Drive>>,
}

impl ReadClaims {
    /// Whether no peer is claimed yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Adds a peer to claim (by [`arm`](Self::arm)).
    pub(crate) fn push(&mut self, peer: Arc<dyn Drive>) {
        self.peers.push(peer);
    }

    /// Reads for every claimed peer whose readiness came to us, or is still unread.
    pub(crate) fn serve(&self) {
        for peer in &self.peers {
            let owed = peer.readable().take_owed();
            if owed || peer.readable().is_ready() {
                peer.drive();
            }
        }
    }

    /// Whether a claimed peer's stream may have unread data.
    pub(crate) fn any_ready(&self) -> bool {
        self.peers.iter().any(|peer| peer.readable().is_ready())
    }

    /// The next readiness of each claimed peer wakes `waker`.
    pub(crate) fn arm(&self, waker: &Waker) {
        for peer in &self.peers {
            peer.readable().claim(waker);
        }
    }

    /// Lets go of every claim.
    pub(crate) fn release(&mut self) {
        for peer in self.peers.drain(..) {
            peer.readable().release();
        }
    }
}

impl Drop for ReadClaims {
    fn drop(&mut self) {
        self.release();
    }
}

/// Locks `mutex`; a panic elsewhere while holding it leaves nothing half-done that these
/// small critical sections could observe, so poisoning is ignored.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
