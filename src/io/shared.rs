//! The state one socket's tasks share: the sans-IO [`SocketCore`] (the pattern and its
//! queues, not the connections: each driver owns its own) behind one mutex, and the wakers
//! of everything waiting on it.
//!
//! The lock is never held across an `.await`, and each holder does a batch of work (a whole
//! read buffer, several output chunks) per acquisition. Wakers are collected under the lock
//! and woken after it is released.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Waker;

use super::auth::Authenticator;
use super::inline::Drive;
use super::monitor::MonitorSink;
use super::options::TcpKeepalive;
use super::runtime::Runtime;
use super::tasks::EndpointTask;
use crate::pattern::{PeerId, SocketCore, SocketEvent};
use crate::proto::PeerInfo;

/// What the driver task of one connection needs from the shared state.
#[derive(Default)]
pub(crate) struct PeerTask {
    /// Wakes the driver: new output, room for input, or a stop request.
    pub(crate) waker: Option<Waker>,
    /// The driver must end (disconnect, unbind, close).
    pub(crate) stop: bool,
    /// The driver has written everything queued for its peer (only tracked while closing).
    pub(crate) flushed: bool,
    /// The bound endpoint this connection was accepted on, if any.
    pub(crate) listener: Option<u64>,
    /// Remove the peer (and its queue) when the connection ends: a stream the user
    /// attached has nothing to reconnect to.
    pub(crate) remove_on_close: bool,
    /// This connection completed its handshake (its connector then starts its backoff
    /// over when it drops).
    pub(crate) handshaken: bool,
    /// The connection's driver, for callers doing its IO inline (sockets with
    /// [`SocketBuilder::inline_io`](super::SocketBuilder::inline_io)). Weak: the driver
    /// holds the shared state, and a runtime that drops the connection's task must drop
    /// the driver with it.
    pub(crate) drive: Option<Weak<dyn Drive>>,
}

impl std::fmt::Debug for PeerTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTask")
            .field("stop", &self.stop)
            .field("flushed", &self.flushed)
            .field("listener", &self.listener)
            .field("handshaken", &self.handshaken)
            .field("inline", &self.drive.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) core: SocketCore,
    /// Ordered, so that what is done for each peer in turn (inline reads, wake-ups) comes
    /// in the same order every run: a simulation replays exactly.
    pub(crate) peers: BTreeMap<PeerId, PeerTask>,
    pub(crate) recv_wakers: Vec<Waker>,
    pub(crate) send_wakers: Vec<Waker>,
    /// Woken when tasks end, peers flush or connections complete (close and tests wait on it).
    pub(crate) state_wakers: Vec<Waker>,
    /// No more sends; drivers report when they have flushed.
    pub(crate) closing: bool,
    /// Everything is shut down; operations fail with `Closed`.
    pub(crate) closed: bool,
    /// Tasks (listeners, connectors, drivers) still running for this socket.
    pub(crate) tasks: usize,
    /// The next `send` yields once before sending (see [`Inner::note_send_pressure`]).
    pub(crate) yield_before_send: bool,
    /// Bound and connected endpoints, by id.
    pub(crate) endpoints: BTreeMap<u64, EndpointTask>,
    pub(crate) next_endpoint: u64,
    /// What each peer announced and was authenticated as, for
    /// [`Socket::recv_from`](crate::io::Socket::recv_from): kept after its connection
    /// closed only while messages from it wait to be read (at most `RETIRED_PEER_INFO`
    /// such peers).
    pub(crate) peer_info: HashMap<PeerId, Arc<PeerInfo>>,
    pub(crate) retired: VecDeque<PeerId>,
    /// Where the socket's [`Monitor`](super::Monitor)s read its events.
    pub(crate) monitors: Vec<MonitorSink>,
}

/// Closed peers whose [`PeerInfo`] stays for messages still queued from them, at most.
const RETIRED_PEER_INFO: usize = 1024;

/// Shared by the user's handles and every task of one socket.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Where the socket's tasks run and its timers tick.
    pub(crate) runtime: Arc<dyn Runtime>,
    /// Decides on clients' credentials, if the socket has an authenticator.
    pub(crate) authenticator: Option<Authenticator>,
    /// Applied to every TCP connection when it is made.
    pub(crate) tcp_keepalive: TcpKeepalive,
    /// `send` and `recv` do their connections' IO on the calling thread.
    pub(crate) inline_io: bool,
}

/// Wakers to wake, and drivers to poll inline, once the lock is released.
#[derive(Default)]
pub(crate) struct Wakeups {
    wakers: Vec<Waker>,
    drivers: Vec<Arc<dyn Drive>>,
}

impl Wakeups {
    pub(crate) fn wake(self) {
        for waker in self.wakers {
            waker.wake();
        }
        for driver in self.drivers {
            driver.drive();
        }
    }
}

impl Shared {
    pub(crate) fn new(
        core: SocketCore,
        runtime: Arc<dyn Runtime>,
        authenticator: Option<Authenticator>,
        tcp_keepalive: TcpKeepalive,
        inline_io: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            authenticator,
            tcp_keepalive,
            inline_io,
            inner: Mutex::new(Inner {
                core,
                peers: BTreeMap::new(),
                recv_wakers: Vec::new(),
                send_wakers: Vec::new(),
                state_wakers: Vec::new(),
                closing: false,
                closed: false,
                tasks: 0,
                yield_before_send: false,
                endpoints: BTreeMap::new(),
                next_endpoint: 1,
                peer_info: HashMap::new(),
                retired: VecDeque::new(),
                monitors: Vec::new(),
            }),
        })
    }

    /// Locks the state. A panic while holding the lock cannot leave the core half
    /// updated in a way later calls could observe as unsound, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` under the lock, routes the core's events, then wakes whoever they concern.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        self.with_inline(false, f)
    }

    /// As [`with`](Self::with), for the application's calls: with inline IO, the
    /// connections that have new output are driven here rather than woken.
    pub(crate) fn with_caller<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        self.with_inline(self.inline_io, f)
    }

    fn with_inline<R>(&self, inline: bool, f: impl FnOnce(&mut Inner) -> R) -> R {
        let (result, wakeups) = {
            let mut inner = self.lock();
            let result = f(&mut inner);
            (result, inner.dispatch_as(inline))
        };
        wakeups.wake();
        result
    }

    /// Counts a task for this socket; the guard uncounts it when dropped.
    pub(crate) fn task_started(self: &Arc<Self>) -> TaskGuard {
        self.lock().tasks += 1;
        live_tasks_inc();
        TaskGuard(Arc::clone(self))
    }
}

impl Inner {
    /// After a send: if a peer's queue has just filled to half its HWM, gathered a 64 KiB
    /// write batch or dropped messages when full, the next `send` yields once (wakes its
    /// task and returns pending) before sending. A loop that never waits, as PUB's never
    /// does, would otherwise keep the connection tasks on its executor thread from writing:
    /// first until the queue overflowed, then for good. Yielding on queue state rather
    /// than every few calls keeps the write batches large when one message goes to many
    /// peers.
    pub(crate) fn note_send_pressure(&mut self) {
        if self.core.take_send_pressure() {
            self.yield_before_send = true;
        }
    }

    /// Routes the core's events to the wakers they concern.
    pub(crate) fn dispatch(&mut self) -> Wakeups {
        self.dispatch_as(false)
    }

    /// Routes the core's events; `inline`: a connection with new output is to be driven
    /// by the caller (when it can be) instead of woken.
    fn dispatch_as(&mut self, inline: bool) -> Wakeups {
        let mut wakeups = Wakeups::default();
        while let Some(event) = self.core.poll_event() {
            match event {
                SocketEvent::Wake(peer) => {
                    let Some(task) = self.peers.get_mut(&peer) else {
                        continue;
                    };
                    match task.drive.as_ref().and_then(Weak::upgrade) {
                        Some(drive) if inline => wakeups.drivers.push(drive),
                        _ => wakeups.wakers.extend(task.waker.take()),
                    }
                }
                SocketEvent::Readable => wakeups.wakers.append(&mut self.recv_wakers),
                SocketEvent::SubscriptionsChanged(_) => {
                    wakeups.wakers.append(&mut self.state_wakers);
                }
                SocketEvent::Writable => wakeups.wakers.append(&mut self.send_wakers),
                SocketEvent::Monitor(event) => {
                    log::debug!("{} {event}", self.core.socket_type());
                    let wakers = &mut wakeups.wakers;
                    self.monitors.retain(|sink| sink.push(&event, wakers));
                }
                SocketEvent::Connected { peer, info } => {
                    self.peer_info.insert(peer, Arc::clone(&info));
                    log::debug!(
                        "{} {peer}: connected to a {} peer over {}",
                        self.core.socket_type(),
                        info.socket_type,
                        info.version
                    );
                    if let Some(task) = self.peers.get_mut(&peer) {
                        task.handshaken = true;
                    }
                    wakeups.wakers.append(&mut self.state_wakers);
                }
            }
        }
        wakeups
    }

    /// A peer's connection closed: its info stays while messages from it wait.
    pub(crate) fn retire_peer_info(&mut self, peer: PeerId) {
        if !self.core.pattern().has_input(peer) {
            self.peer_info.remove(&peer);
            return;
        }
        self.retired.push_back(peer);
        while self.retired.len() > RETIRED_PEER_INFO {
            let oldest = self.retired.pop_front().expect("over the limit");
            // A peer that reconnected since has fresh info.
            if !self.core.is_open(oldest) {
                self.peer_info.remove(&oldest);
            }
        }
    }

    /// The info of `peer`, whose message is being received; forgotten once it is closed and
    /// nothing more from it waits.
    pub(crate) fn info_for_received(&mut self, peer: PeerId) -> Option<Arc<PeerInfo>> {
        let info = self.peer_info.get(&peer).cloned();
        if !self.core.is_open(peer) && !self.core.pattern().has_input(peer) {
            self.peer_info.remove(&peer);
        }
        info
    }

    /// Starts pushing events to a monitor; one attached to a socket that has already
    /// closed ends at once.
    pub(crate) fn add_monitor(&mut self, sink: MonitorSink) -> Wakeups {
        sink.attach();
        let mut wakeups = Wakeups::default();
        if self.closed && self.tasks == 0 {
            sink.detach(&mut wakeups.wakers);
        } else {
            self.monitors.push(sink);
        }
        wakeups
    }

    /// Asks the driver of `peer` to stop.
    pub(crate) fn stop_peer(&mut self, peer: PeerId) -> Option<Waker> {
        let task = self.peers.get_mut(&peer)?;
        task.stop = true;
        task.waker.take()
    }

    /// Wakes everyone who waits for anything: used when the socket closes.
    pub(crate) fn wake_all(&mut self) -> Wakeups {
        let mut wakeups = Wakeups::default();
        wakeups.wakers.append(&mut self.recv_wakers);
        wakeups.wakers.append(&mut self.send_wakers);
        wakeups.wakers.append(&mut self.state_wakers);
        wakeups
            .wakers
            .extend(self.peers.values_mut().filter_map(|task| task.waker.take()));
        wakeups.wakers.extend(
            self.endpoints
                .values_mut()
                .filter_map(|task| task.waker.take()),
        );
        wakeups
    }
}

/// Registers `waker` in `list` unless an equivalent one is there already.
pub(crate) fn register(list: &mut Vec<Waker>, waker: &Waker) {
    if !list.iter().any(|w| w.will_wake(waker)) {
        list.push(waker.clone());
    }
}

/// Uncounts a task when it ends, however it ends.
pub(crate) struct TaskGuard(Arc<Shared>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let wakeups = {
            let mut inner = self.0.lock();
            inner.tasks -= 1;
            // Uncount process-wide before waking `close`: once it sees `tasks == 0` and
            // returns, `live_tasks()` must not still count this task.
            live_tasks_dec();
            Wakeups {
                wakers: std::mem::take(&mut inner.state_wakers),
                drivers: Vec::new(),
            }
        };
        wakeups.wake();
    }
}

static LIVE_TASKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts tasks process-wide, so tests can prove that closed sockets leave none behind.
fn live_tasks_inc() {
    LIVE_TASKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn live_tasks_dec() {
    LIVE_TASKS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
}

/// Tasks of all sockets in this process that are still running.
pub fn live_tasks() -> usize {
    LIVE_TASKS.load(std::sync::atomic::Ordering::SeqCst)
}
