//! `inproc://name`: sockets of one process connected by name, with no transport and no
//! ZMTP. Messages move by value from one socket's outgoing queue into the other's incoming
//! queue, so both sockets' high-water marks hold and the pattern rules are the same code
//! as over TCP (`SocketCore::open_direct`, `take_direct`, `deliver_direct`).
//!
//! Names live in one registry per process (libzmq scopes them per context; there is no
//! context here). A connect may come before the bind, as in libzmq: the connecting
//! socket's queue exists from the start, and its connector task waits for the name to be
//! bound, then drives the connection (both directions, so the connection needs no task of
//! the binding socket and works whatever executors the two sockets run on). When the
//! binding side goes away the connector waits for the name to be bound again, as a TCP
//! connector reconnects. Security mechanisms do not apply: both ends are in one process.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use smol::future::or;

use super::shared::{PeerTask, Shared, TaskGuard};
use super::tasks::{Backoff, retry_after, stop_requested};
use crate::pattern::{DisconnectReason, MonitorEvent, PeerId, PeerInput, PeerOutput};

/// Most messages the connection moves per lock acquisition and direction. Fewer when the
/// receiving queue has less room: at most one message is ever in flight beyond what the
/// receiver's HWM admits, so a connection holds its sender's HWM plus its receiver's, as
/// a libzmq inproc pipe does.
const BATCH: usize = 64;

/// The bound names of this process, and the connectors waiting for one.
#[derive(Default)]
struct Registry {
    bound: HashMap<String, Binding>,
    /// Connectors waiting for a name, by a ticket of their own so that one that stops
    /// waiting (disconnected, closed) takes its entry away: names never bound leave
    /// nothing behind.
    waiting: HashMap<String, HashMap<u64, Waker>>,
    next_ticket: u64,
}

struct Binding {
    shared: Weak<Shared>,
    /// The endpoint id in the binding socket's registry.
    endpoint: u64,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Binds `name` for the socket's endpoint `endpoint`; fails if another live socket holds
/// it. Wakes the connectors waiting for it.
///
/// Lock order: a socket's state, then the registry (never the other way round).
pub(crate) fn bind(shared: &Arc<Shared>, name: &str, endpoint: u64) -> std::io::Result<()> {
    let waiting = {
        let mut registry = registry();
        if let Some(binding) = registry.bound.get(name)
            && binding.shared.strong_count() > 0
        {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("inproc://{name} is already bound"),
            ));
        }
        registry.bound.insert(
            name.to_owned(),
            Binding {
                shared: Arc::downgrade(shared),
                endpoint,
            },
        );
        registry.waiting.remove(name).unwrap_or_default()
    };
    waiting.into_values().for_each(Waker::wake);
    Ok(())
}

/// Releases `name` if the socket's endpoint `endpoint` holds it (unbind or close: called
/// under the socket's lock, in the same step that stops the endpoint).
pub(crate) fn unbind(shared: &Arc<Shared>, name: &str, endpoint: u64) {
    let mut registry = registry();
    let ours = registry.bound.get(name).is_some_and(|binding| {
        binding.endpoint == endpoint && std::ptr::eq(binding.shared.as_ptr(), Arc::as_ptr(shared))
    });
    if ours {
        registry.bound.remove(name);
    }
}

/// Completes with the socket bound to `name` (and its endpoint id) once there is one.
fn bound(name: &str) -> Bound<'_> {
    Bound { name, ticket: None }
}

/// The future of [`bound`]: waits in the registry under a ticket, withdrawn on drop.
struct Bound<'a> {
    name: &'a str,
    ticket: Option<u64>,
}

impl Future for Bound<'_> {
    type Output = (Arc<Shared>, u64);

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut registry = registry();
        if let Some(binding) = registry.bound.get(self.name)
            && let Some(shared) = binding.shared.upgrade()
        {
            return Poll::Ready((shared, binding.endpoint));
        }
        let ticket = match self.ticket {
            Some(ticket) => ticket,
            None => {
                registry.next_ticket += 1;
                registry.next_ticket
            }
        };
        self.ticket = Some(ticket);
        let waiting = registry.waiting.entry(self.name.to_owned()).or_default();
        waiting.insert(ticket, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Bound<'_> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket else { return };
        let mut registry = registry();
        if let Some(waiting) = registry.waiting.get_mut(self.name) {
            waiting.remove(&ticket);
            if waiting.is_empty() {
                registry.waiting.remove(self.name);
            }
        }
    }
}

/// One end of a connection: a socket and the peer id the other end has there.
struct End {
    shared: Arc<Shared>,
    peer: PeerId,
}

/// Connects the socket's peer `peer` (endpoint `id`, named `label` in monitor events) to
/// whichever socket binds `inproc://name`, again each time the binding goes away, until
/// the endpoint is disconnected or the socket closes.
pub(crate) fn spawn_connector(
    shared: &Arc<Shared>,
    id: u64,
    peer: PeerId,
    name: String,
    label: Arc<str>,
    backoff: Backoff,
) {
    let guard = shared.task_started();
    let shared = Arc::clone(shared);
    let runtime = Arc::clone(&shared.runtime);
    runtime.spawn(Box::pin(async move {
        loop {
            shared.with(|inner| {
                inner.core.monitor(MonitorEvent::ConnectDelayed {
                    endpoint: Arc::clone(&label),
                    peer,
                })
            });
            let binder = or(async { Some(bound(&name).await) }, async {
                stop_requested(&shared, id).await;
                None
            })
            .await;
            let Some((binder, binder_endpoint)) = binder else {
                break;
            };
            let near = End {
                shared: Arc::clone(&shared),
                peer,
            };
            match establish(&near, id, &label, &name, &binder, binder_endpoint) {
                Established::Stopped => break,
                Established::Up(far, binder_guard) => {
                    let ended = Connection::new(near, far).run().await;
                    drop(binder_guard);
                    if ended {
                        break;
                    }
                }
                Established::Refused | Established::Gone => {
                    // Refused (incompatible types, a PAIR taken) or unbound meanwhile:
                    // try again later, as a TCP connector would.
                    let delay = backoff.initial;
                    if !retry_after(&shared, id, peer, &label, delay).await {
                        break;
                    }
                }
            }
        }
        shared.with(|inner| {
            inner.endpoints.remove(&id);
            inner.core.remove_peer(peer);
        });
        drop(guard);
    }));
}

enum Established {
    /// Connected: the binder's end, and the count that keeps the binding socket's
    /// `close` waiting until the connection has let go of it.
    Up(End, TaskGuard),
    /// One side refused the other.
    Refused,
    /// The binding went away meanwhile.
    Gone,
    /// Our endpoint was disconnected or our socket closed meanwhile.
    Stopped,
}

/// Makes the connection: a new accepted peer on the binding side, our peer opened on
/// ours, each told what the other would have announced.
fn establish(
    near: &End,
    id: u64,
    label: &Arc<str>,
    name: &str,
    binder: &Arc<Shared>,
    binder_endpoint: u64,
) -> Established {
    let near_info = near.shared.lock().core.options().connection.peer_info();
    let far_info = binder.lock().core.options().connection.peer_info();
    let binder_guard = binder.task_started();
    let accepted = binder.with(|inner| {
        let task = inner.endpoints.get(&binder_endpoint).filter(|t| !t.stop)?;
        if inner.closing {
            return None;
        }
        let endpoint = Arc::clone(&task.label);
        let remote: Arc<str> = Arc::from(format!("inproc://{name}"));
        let accepted = inner.core.accept_direct(endpoint, remote, near_info);
        if let Ok(peer) = accepted {
            let task = PeerTask {
                listener: Some(binder_endpoint),
                ..PeerTask::default()
            };
            inner.peers.insert(peer, task);
        }
        Some(accepted)
    });
    let far_peer = match accepted {
        None => return Established::Gone,
        Some(Err(_)) => return Established::Refused,
        Some(Ok(peer)) => peer,
    };
    let opened = near.shared.with(|inner| {
        if inner.closed || inner.endpoints.get(&id).is_none_or(|task| task.stop) {
            return None;
        }
        inner.core.monitor(MonitorEvent::Connected {
            endpoint: Arc::clone(label),
            peer: near.peer,
            remote: Arc::from(format!("inproc://{name}")),
        });
        let opened = inner.core.open_direct(near.peer, far_info);
        if opened.is_ok() {
            inner.peers.insert(near.peer, PeerTask::default());
        }
        Some(opened)
    });
    let refused = match opened {
        Some(Ok(())) => {
            return Established::Up(
                End {
                    shared: Arc::clone(binder),
                    peer: far_peer,
                },
                binder_guard,
            );
        }
        Some(Err(err)) => (Established::Refused, DisconnectReason::from(err)),
        None => (Established::Stopped, DisconnectReason::PeerClosed),
    };
    // Undo the binding side's half.
    close_end(
        &End {
            shared: Arc::clone(binder),
            peer: far_peer,
        },
        match refused.0 {
            Established::Stopped => DisconnectReason::PeerClosed,
            _ => refused.1,
        },
    );
    refused.0
}

/// Ends one side of a connection: the peer's task entry goes, and its queue with it
/// (accepted) or not (connected); the monitor hears why.
fn close_end(end: &End, reason: DisconnectReason) {
    let wakeups = end.shared.with(|inner| {
        inner.peers.remove(&end.peer);
        inner.core.close(end.peer, None, reason);
        inner.retire_peer_info(end.peer);
        // `close` may be waiting for this peer to report "flushed", which it never will.
        std::mem::take(&mut inner.state_wakers)
    });
    wakeups.into_iter().for_each(Waker::wake);
}

/// Moves messages both ways between the two ends until one of them stops.
struct Connection {
    near: End,
    far: End,
    to_far: Direction,
    to_near: Direction,
    scratch: Vec<PeerOutput>,
}

/// What is in flight one way.
struct Direction {
    /// Taken from the sender, not yet taken by the receiver.
    held: VecDeque<PeerInput>,
    /// How many the receiver's queue had room for when last seen.
    room: usize,
}

impl Direction {
    fn new() -> Self {
        Self {
            held: VecDeque::new(),
            room: 1,
        }
    }
}

/// Which end stopped the connection, and why.
struct Stop {
    near_stopped: bool,
    reason: DisconnectReason,
}

impl Connection {
    fn new(near: End, far: End) -> Self {
        Self {
            near,
            far,
            to_far: Direction::new(),
            to_near: Direction::new(),
            scratch: Vec::new(),
        }
    }

    /// Runs the connection; whether it ended because our (the connecting) side stopped.
    async fn run(mut self) -> bool {
        let stop = std::future::poll_fn(|cx| self.poll(cx)).await;
        let (near_reason, far_reason) = if stop.near_stopped {
            (stop.reason, DisconnectReason::PeerClosed)
        } else {
            (DisconnectReason::PeerClosed, stop.reason)
        };
        // Our side ends for good only when it was asked to (disconnect, close); a limit
        // it broke, or the binding side going, leaves it to connect again.
        let asked_to_stop = stop.near_stopped && near_reason == DisconnectReason::Local;
        close_end(&self.far, far_reason);
        close_end(&self.near, near_reason);
        asked_to_stop
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        loop {
            let out = pump(
                &self.near,
                &self.far,
                &mut self.to_far,
                &mut self.scratch,
                cx,
            );
            let back = pump(
                &self.far,
                &self.near,
                &mut self.to_near,
                &mut self.scratch,
                cx,
            );
            match (out, back) {
                (Err(stop), _) => return Poll::Ready(stop),
                (
                    _,
                    Err(Stop {
                        near_stopped,
                        reason,
                    }),
                ) => {
                    // `pump` names ends by direction; flip for the way back.
                    return Poll::Ready(Stop {
                        near_stopped: !near_stopped,
                        reason,
                    });
                }
                (Ok(false), Ok(false)) => return Poll::Pending,
                _ => {}
            }
        }
    }
}

/// Moves what `from` queued for its peer to `to`: first what is held from last time,
/// then a new batch. `Ok(true)` if anything moved. An error names the end that stopped,
/// as `near_stopped` meaning `from`.
fn pump(
    from: &End,
    to: &End,
    way: &mut Direction,
    scratch: &mut Vec<PeerOutput>,
    cx: &Context<'_>,
) -> Result<bool, Stop> {
    let held = &mut way.held;
    let from_stopped = |reason| Stop {
        near_stopped: true,
        reason,
    };
    let to_stopped = |reason| Stop {
        near_stopped: false,
        reason,
    };
    if held.is_empty() {
        // Take nothing for a receiver that is already gone: it would be lost with the
        // connection, where it can still go to another peer (or to the next binder).
        let gone = to
            .shared
            .with(|inner| inner.peers.get(&to.peer).is_none_or(|task| task.stop));
        if gone {
            return Err(to_stopped(DisconnectReason::Local));
        }
        let stopped = from.shared.with(|inner| {
            let Some(task) = inner.peers.get_mut(&from.peer) else {
                return Some(DisconnectReason::Local);
            };
            if task.stop {
                return Some(DisconnectReason::Local);
            }
            if !task.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                task.waker = Some(cx.waker().clone());
            }
            // At least one: offered to a full queue, it is refused and the queue then
            // wakes us when it has room.
            let max = way.room.clamp(1, BATCH);
            inner.core.take_direct(from.peer, max, scratch);
            if inner.closing && scratch.is_empty() {
                let queued = inner.core.stats(from.peer).map_or(0, |s| s.outbound_msgs);
                let task = inner.peers.get_mut(&from.peer).expect("checked above");
                if queued == 0 && !task.flushed {
                    task.flushed = true;
                    let waiters = std::mem::take(&mut inner.state_wakers);
                    waiters.into_iter().for_each(Waker::wake);
                }
            }
            None
        });
        if let Some(reason) = stopped {
            return Err(from_stopped(reason));
        }
        held.extend(scratch.drain(..).map(|output| match output {
            PeerOutput::Message(msg) => PeerInput::Message(msg),
            PeerOutput::Subscribe(prefix) => PeerInput::Subscribe(prefix),
            PeerOutput::Cancel(prefix) => PeerInput::Cancel(prefix),
        }));
    }
    let before = held.len();
    let failure = to.shared.with(|inner| {
        let Some(task) = inner.peers.get_mut(&to.peer) else {
            return Some(DisconnectReason::Local);
        };
        if task.stop {
            return Some(DisconnectReason::Local);
        }
        if !task.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            task.waker = Some(cx.waker().clone());
        }
        if held.is_empty() {
            return None;
        }
        let failed = inner.core.deliver_direct(to.peer, held).err();
        let hwm = inner.core.options().pattern.recv_hwm;
        let queued = inner.core.stats(to.peer).map_or(0, |s| s.inbound_msgs);
        way.room = if hwm == 0 {
            BATCH
        } else {
            hwm.saturating_sub(queued)
        };
        failed.map(DisconnectReason::from)
    });
    if let Some(reason) = failure {
        return Err(to_stopped(reason));
    }
    Ok(held.len() < before)
}
