//! [`Socket`]: a [`Pattern`] plus one [`Connection`] per peer — a whole ZeroMQ socket as one
//! sans-IO machine.
//!
//! An adapter gives each peer's transport a driver that moves octets: what it reads goes to
//! [`Socket::handle_input`], what [`Socket::poll_transmit`] returns goes to the transport,
//! and [`Socket::poll_timeout`] says when to call [`Socket::handle_timeout`]. The
//! application side calls [`Socket::send`] and [`Socket::recv`]. [`SocketEvent`]s say which
//! driver or waiter has something to do.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use thiserror::Error;

use super::{
    AttachError, InputError, LimitError, Pattern, PatternOptions, PeerId, PeerInput, PeerOutput,
    RecvError, SendError,
};
use crate::Msg;
use crate::proto::{Config, Connection, ConnectionError, Event, PeerInfo, Role, SocketType};

/// Default octets a connection may have waiting for its transport before the socket stops
/// moving messages into it; the rest wait in the peer's queue, where the HWM counts them.
pub const DEFAULT_TRANSMIT_BUFFER: usize = 256 * 1024;

/// Everything a [`Socket`] is configured with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Per-connection settings; its `socket_type` is the socket's type.
    pub connection: Config,
    /// Pattern settings (HWMs, REQ/ROUTER/XPUB switches).
    pub pattern: PatternOptions,
    /// Queue messages only for peers with a completed handshake (libzmq's ZMQ_IMMEDIATE).
    /// Off by default: a peer we connect to has a queue from the start, which survives
    /// reconnects.
    pub immediate: bool,
    /// Octets a connection may hold for its transport (see [`DEFAULT_TRANSMIT_BUFFER`]).
    pub transmit_buffer: usize,
}

impl SocketOptions {
    /// Defaults for a socket of `socket_type`.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            connection: Config::new(socket_type),
            pattern: PatternOptions::default(),
            immediate: false,
            transmit_buffer: DEFAULT_TRANSMIT_BUFFER,
        }
    }
}

/// Something an adapter has to act on, drained with [`Socket::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A connection completed its handshake.
    Connected {
        /// The peer.
        peer: PeerId,
        /// What it announced.
        info: PeerInfo,
    },
    /// The peer's driver has work: octets to transmit, or input held back by a full queue
    /// that [`Socket::handle_input`] (with no new octets) can now deliver.
    Wake(PeerId),
    /// A [`Socket::send`] that returned `WouldBlock` may now succeed.
    Writable,
    /// A [`Socket::recv`] that returned nothing may now return a message.
    Readable,
    /// A peer subscribed or cancelled a subscription (PUB and XPUB), so
    /// [`Pattern::subscribed_peers`] may have changed.
    SubscriptionsChanged(PeerId),
}

/// Why a peer's connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The peer broke the protocol, failed the handshake or timed out.
    #[error(transparent)]
    Protocol(#[from] ConnectionError),
    /// The pattern did not accept the peer (second PAIR peer, duplicate ROUTER identity).
    #[error(transparent)]
    Refused(#[from] AttachError),
    /// The peer broke a pattern limit (its subscriptions took too much memory).
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// There is no such peer, or it has no open connection.
    #[error("no open connection for this peer")]
    NotConnected,
}

#[derive(Debug)]
struct Slot {
    /// Created by `add_peer`: the queue outlives its connections.
    persistent: bool,
    conn: Option<Connection>,
    /// Input the pattern refused because the peer's queue was full, to offer again.
    held: Option<PeerInput>,
}

/// A whole socket: pattern semantics over many peers, one ZMTP connection each, no IO.
///
/// # Driving a socket
///
/// The contract of [`Connection`] holds per peer (time only from the caller and
/// monotonic; octets in any chunking; drain after every call), with peers named by
/// [`PeerId`]:
///
/// 1. **Peers.** For an endpoint we connect to, [`add_peer`](Self::add_peer) once, then
///    [`open`](Self::open) each time its transport comes up; for a transport accepted on a
///    bound endpoint, [`accept`](Self::accept). When a transport ends (EOF, error, or after
///    a method returned an error and the output was flushed), [`close`](Self::close): what
///    the connection decoded before is still delivered. [`remove_peer`](Self::remove_peer)
///    forgets a peer and its queue (disconnect, unbind).
/// 2. **Input.** Octets from a peer go to [`handle_input`](Self::handle_input). Read only
///    while [`wants_input`](Self::wants_input) says so: when the peer's queue is full the
///    socket holds input back, and a later [`SocketEvent::Wake`] means that calling
///    `handle_input` with no octets delivers it.
/// 3. **Output.** After any call, drain [`poll_event`](Self::poll_event) until `None`. For
///    each [`SocketEvent::Wake`]`(peer)` (and after every `open`, `accept` or
///    `handle_input` of that peer), write [`poll_transmit`](Self::poll_transmit)`(peer)`
///    until `None`; it moves queued messages into the connection while it has room.
///    [`SocketEvent::Readable`] and [`SocketEvent::Writable`] say when a `recv` that
///    found nothing or a `send` that would block is worth retrying.
/// 4. **Timers.** Per peer, [`poll_timeout`](Self::poll_timeout) and
///    [`handle_timeout`](Self::handle_timeout); or, driving every peer from one loop,
///    [`next_timeout`](Self::next_timeout) and `handle_timeout` for each peer that is due.
/// 5. **The application** calls [`send`](Self::send), [`recv`](Self::recv),
///    [`subscribe`](Self::subscribe) at any time; each may produce events to drain.
///
/// `sim::Network` drives sockets in memory this way, `examples/blocking_loop.rs` over
/// `std::net` without async, and the `io` layer with one task per connection.
#[derive(Debug)]
pub struct Socket {
    options: SocketOptions,
    pattern: Pattern,
    slots: BTreeMap<PeerId, Slot>,
    next_peer: u64,
    events: VecDeque<SocketEvent>,
    send_blocked: bool,
    recv_waiting: bool,
}

impl Socket {
    /// A socket with no peers.
    pub fn new(options: SocketOptions) -> Self {
        Self {
            pattern: Pattern::new(options.connection.socket_type, &options.pattern),
            options,
            slots: BTreeMap::new(),
            next_peer: 1,
            events: VecDeque::new(),
            send_blocked: false,
            recv_waiting: false,
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.pattern.socket_type()
    }

    /// The options the socket was built with.
    pub fn options(&self) -> &SocketOptions {
        &self.options
    }

    /// A peer we will connect to: its queue exists now (unless `immediate`), accepts
    /// messages as the pattern allows, and survives every reconnect until
    /// [`Socket::remove_peer`].
    pub fn add_peer(&mut self) -> Result<PeerId, AttachError> {
        let peer = self.new_id();
        if !self.options.immediate {
            self.pattern.attach(peer)?;
            self.note_writable();
        }
        self.slots.insert(
            peer,
            Slot {
                persistent: true,
                conn: None,
                held: None,
            },
        );
        Ok(peer)
    }

    /// The transport to a peer from [`Socket::add_peer`] is up: a ZMTP connection starts
    /// (as client), replacing any earlier one.
    pub fn open(&mut self, peer: PeerId, now: Instant) {
        if let Some(slot) = self.slots.get_mut(&peer) {
            slot.conn = Some(Connection::new(
                self.options.connection.clone(),
                Role::Client,
                now,
            ));
            slot.held = None;
            self.events.push_back(SocketEvent::Wake(peer));
        }
    }

    /// A peer connected to one of our endpoints: a new peer with a connection (as server).
    /// Its queue is created when the handshake completes and goes away with the connection.
    pub fn accept(&mut self, now: Instant) -> PeerId {
        let peer = self.new_id();
        self.slots.insert(
            peer,
            Slot {
                persistent: false,
                conn: Some(Connection::new(
                    self.options.connection.clone(),
                    Role::Server,
                    now,
                )),
                held: None,
            },
        );
        self.events.push_back(SocketEvent::Wake(peer));
        peer
    }

    /// The peer's transport closed (or was closed after an error): its connection is
    /// dropped. An accepted peer goes away with it; a connected one keeps its queue.
    pub fn close(&mut self, peer: PeerId) {
        if !self.slots.contains_key(&peer) {
            return;
        }
        // Whatever the connection decoded before it ended is delivered: which messages a
        // peer gets must not depend on how the transport chunked the stream before an
        // error or end of stream.
        self.pattern.accept_final_input(peer);
        let _ = self.deliver(peer);
        let slot = self.slots.get_mut(&peer).expect("checked above");
        slot.conn = None;
        slot.held = None;
        if slot.persistent && !self.options.immediate {
            self.pattern.disconnected(peer);
        } else {
            self.pattern.detach(peer);
            if !slot.persistent {
                self.slots.remove(&peer);
            }
        }
        self.after_pattern_change();
    }

    /// Removes a peer and its queue (disconnect or unbind).
    pub fn remove_peer(&mut self, peer: PeerId) {
        if self.slots.remove(&peer).is_some() {
            self.pattern.detach(peer);
            self.after_pattern_change();
        }
    }

    /// Octets from the peer's transport. Also call it with no octets after a
    /// [`SocketEvent::Wake`] to deliver input that a full queue held back. An error means
    /// the transport should be flushed ([`Socket::poll_transmit`]) and closed.
    pub fn handle_input(
        &mut self,
        peer: PeerId,
        data: &[u8],
        now: Instant,
    ) -> Result<(), PeerError> {
        let conn = self.connection(peer)?;
        let decoded = conn.handle_input(data, now);
        // Messages decoded before a protocol error in the same octets go to the pattern
        // first, exactly as if the error had come in a later read.
        let delivered = self.deliver(peer);
        decoded?;
        delivered
    }

    /// Whether the peer's driver should read more: everything read so far was delivered.
    pub fn wants_input(&self, peer: PeerId) -> bool {
        self.slots.get(&peer).is_some_and(|slot| {
            slot.held.is_none()
                && slot
                    .conn
                    .as_ref()
                    .is_some_and(|c| !c.is_closed() && !c.has_events())
        })
    }

    /// The next octets for the peer's transport; moves queued messages into the
    /// connection as long as its buffer has room.
    #[must_use]
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Bytes> {
        let slot = self.slots.get_mut(&peer)?;
        let conn = slot.conn.as_mut()?;
        let mut moved = false;
        while conn.is_ready() && conn.pending_transmit() < self.options.transmit_buffer {
            let Some(output) = self.pattern.pop_output(peer) else {
                break;
            };
            moved |= matches!(output, PeerOutput::Message(_));
            // Errors here mean the connection just failed; its error surfaces on the
            // driver's next input or timeout, and the message is lost with it.
            let _ = match output {
                PeerOutput::Message(msg) => conn.send(&msg),
                PeerOutput::Subscribe(prefix) => conn.subscribe(&prefix),
                PeerOutput::Cancel(prefix) => conn.cancel(&prefix),
            };
        }
        let chunk = conn.poll_transmit();
        if moved && self.below_low_water(peer) {
            self.note_writable();
        }
        chunk
    }

    /// When the peer's connection next needs [`Socket::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&self, peer: PeerId) -> Option<Instant> {
        self.slots.get(&peer)?.conn.as_ref()?.poll_timeout()
    }

    /// Runs the peer's due timers (heartbeats, handshake timeout).
    pub fn handle_timeout(&mut self, peer: PeerId, now: Instant) -> Result<(), PeerError> {
        self.connection(peer)?.handle_timeout(now)?;
        Ok(())
    }

    /// The earliest deadline over all peers, for driving the whole socket from one loop.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        self.slots
            .values()
            .filter_map(|slot| slot.conn.as_ref()?.poll_timeout())
            .min()
    }

    /// The application sends a message. [`SendError::WouldBlock`] hands it back; retry
    /// after [`SocketEvent::Writable`].
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        let result = self.pattern.send(msg);
        self.send_blocked = matches!(result, Err(SendError::WouldBlock(_)));
        self.after_pattern_change();
        result
    }

    /// The application takes a message; `Ok(None)` until one arrives
    /// ([`SocketEvent::Readable`] says when to try again).
    pub fn recv(&mut self) -> Result<Option<Msg>, RecvError> {
        let result = self.pattern.recv();
        self.recv_waiting = matches!(result, Ok(None));
        self.after_pattern_change();
        result
    }

    /// SUB/XSUB: subscribes to a prefix on every current and future peer.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        let result = self.pattern.subscribe(prefix);
        self.after_pattern_change();
        result
    }

    /// SUB/XSUB: drops one subscription.
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        let result = self.pattern.unsubscribe(prefix);
        self.after_pattern_change();
        result
    }

    /// Whether a peer's outgoing queue has filled to half its HWM, gathered a write batch or
    /// dropped messages since the last call: see [`Pattern::take_send_pressure`].
    #[must_use]
    pub fn take_send_pressure(&mut self) -> bool {
        self.pattern.take_send_pressure()
    }

    /// The next event for the adapter.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.events.pop_front()
    }

    /// All peers (with or without a connection), in no particular order.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.slots.keys().copied()
    }

    /// Whether the peer exists and has a connection.
    pub fn is_open(&self, peer: PeerId) -> bool {
        self.slots
            .get(&peer)
            .is_some_and(|slot| slot.conn.is_some())
    }

    /// The peer's connection, for inspection.
    pub fn connection_of(&self, peer: PeerId) -> Option<&Connection> {
        self.slots.get(&peer)?.conn.as_ref()
    }

    /// The pattern, for inspection (queue sizes, peers).
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    fn new_id(&mut self) -> PeerId {
        let peer = PeerId(self.next_peer);
        self.next_peer += 1;
        peer
    }

    fn connection(&mut self, peer: PeerId) -> Result<&mut Connection, PeerError> {
        self.slots
            .get_mut(&peer)
            .and_then(|slot| slot.conn.as_mut())
            .ok_or(PeerError::NotConnected)
    }

    /// Moves the connection's events into the pattern until it refuses one.
    fn deliver(&mut self, peer: PeerId) -> Result<(), PeerError> {
        let Self {
            pattern,
            slots,
            events,
            ..
        } = self;
        let slot = slots.get_mut(&peer).ok_or(PeerError::NotConnected)?;
        let mut delivered = false;
        let mut connected = false;
        let result = loop {
            let input = match slot.held.take() {
                Some(input) => input,
                None => match slot.conn.as_mut().and_then(Connection::poll_event) {
                    None => break Ok(()),
                    Some(Event::Ready(info)) => {
                        if let Err(err) = pattern.connected(peer, &info) {
                            break Err(err.into());
                        }
                        events.push_back(SocketEvent::Connected { peer, info });
                        connected = true;
                        continue;
                    }
                    Some(Event::Message(msg)) => PeerInput::Message(msg),
                    Some(Event::Subscribe(prefix)) => PeerInput::Subscribe(prefix),
                    Some(Event::Cancel(prefix)) => PeerInput::Cancel(prefix),
                },
            };
            let subscription = matches!(input, PeerInput::Subscribe(_) | PeerInput::Cancel(_));
            match pattern.on_input(peer, input) {
                Ok(()) => {
                    // XPUB hands subscriptions to the application too.
                    delivered = true;
                    if subscription {
                        events.push_back(SocketEvent::SubscriptionsChanged(peer));
                    }
                }
                Err(InputError::Full(input)) => {
                    slot.held = Some(input);
                    break Ok(());
                }
                Err(InputError::Refused(limit)) => break Err(PeerError::Limit(limit)),
            }
        };
        if delivered && self.recv_waiting {
            self.recv_waiting = false;
            self.events.push_back(SocketEvent::Readable);
        }
        if connected {
            self.note_writable(); // a new peer may take what could not be sent
        }
        self.after_pattern_change();
        result
    }

    /// Turns the pattern's wake-ups into events.
    fn after_pattern_change(&mut self) {
        while let Some(peer) = self.pattern.poll_wake() {
            self.events.push_back(SocketEvent::Wake(peer));
        }
    }

    /// Whether the peer's queue has drained to half its high-water mark. A blocked sender is
    /// resumed only then (libzmq's low-water mark), so it refills the queue in a burst
    /// instead of waking once per message.
    fn below_low_water(&self, peer: PeerId) -> bool {
        let hwm = self.options.pattern.send_hwm;
        hwm == 0
            || self
                .pattern
                .stats(peer)
                .is_none_or(|s| s.outbound_msgs <= hwm / 2)
    }

    fn note_writable(&mut self) {
        if self.send_blocked {
            self.send_blocked = false;
            self.events.push_back(SocketEvent::Writable);
        }
    }
}
