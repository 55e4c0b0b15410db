//! [`SocketCore`]: one socket's pattern and the registry of its peers, without their
//! connections; and [`Link`]: one peer's connection with the input held back for it.
//!
//! The two are apart so that each connection can be driven on its own: an adapter that
//! shares the core between tasks behind a lock decodes, encodes and keeps time for a
//! connection outside that lock, and takes the lock only to hand decoded input to the
//! pattern ([`SocketCore::deliver`]) or to take the peer's queued output
//! ([`SocketCore::take_outputs`]). [`Socket`](super::Socket) composes them into one sans-IO
//! machine, for `sim`, the fuzzers and adapters that drive a whole socket from one loop:
//! both use these same functions, so every rule lives here once.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use thiserror::Error;

use super::monitor::{DisconnectReason, MonitorEvent};
use super::{
    AttachError, InputError, LimitError, Pattern, PatternOptions, PeerId, PeerInput, PeerOutput,
    QueueStats, RecvError, SendError,
};
use crate::Msg;
use crate::proto::{Config, Connection, ConnectionError, Event, PeerInfo, Role, SocketType};
use crate::security::{AuthDecision, AuthRequest};

/// Default octets a connection may have waiting for its transport before the socket stops
/// moving messages into it; the rest wait in the peer's queue, where the HWM counts them.
pub const DEFAULT_TRANSMIT_BUFFER: usize = 256 * 1024;

/// Everything a [`SocketCore`] (and so a [`Socket`](super::Socket)) is configured with.
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

/// Something an adapter has to act on, drained with [`SocketCore::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketEvent {
    /// A connection completed its handshake.
    Connected {
        /// The peer.
        peer: PeerId,
        /// What it announced.
        info: Arc<PeerInfo>,
    },
    /// A step in the socket's life, for its monitor: the core's own (handshakes,
    /// disconnections) and the adapter's ([`SocketCore::monitor`]), in one order.
    Monitor(MonitorEvent),
    /// The peer's driver has work: octets to transmit, or input held back by a full queue
    /// that [`SocketCore::deliver`] (after no new octets) can now deliver.
    Wake(PeerId),
    /// A [`SocketCore::send`] that returned `WouldBlock` may now succeed.
    Writable,
    /// A [`SocketCore::recv`] that returned nothing may now return a message.
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

/// One peer's connection, and the input its queue could not take yet.
///
/// Owned by whoever drives the connection (an io task, or [`Socket`](super::Socket)):
/// decoding, encoding and timers happen here without the [`SocketCore`].
#[derive(Debug)]
pub struct Link {
    conn: Connection,
    /// Input the pattern refused because the peer's queue was full, to offer again.
    held: Option<PeerInput>,
}

impl Link {
    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Octets from the transport, decoded into events that [`SocketCore::deliver`] hands
    /// to the pattern. Events decoded before an error stay to be delivered.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) -> Result<(), ConnectionError> {
        self.conn.handle_input(data, now)
    }

    /// Room to read the next octets into directly while a large body arrives (see
    /// [`Connection::receive_in_place`]); then [`Link::handle_received`].
    pub fn receive_in_place(&mut self) -> Option<&mut [u8]> {
        self.conn.receive_in_place()
    }

    /// `n` octets were read into the room [`Link::receive_in_place`] lent.
    pub fn handle_received(&mut self, n: usize, now: Instant) -> Result<(), ConnectionError> {
        self.conn.handle_received(n, now)
    }

    /// A client waiting for the application's decision (see
    /// [`Connection::poll_auth_request`]), once.
    #[must_use]
    pub fn poll_auth_request(&mut self) -> Option<AuthRequest> {
        self.conn.poll_auth_request()
    }

    /// The application's decision on that client; then [`SocketCore::deliver`] as after
    /// input (the handshake may have completed).
    pub fn authenticate(
        &mut self,
        decision: AuthDecision,
        now: Instant,
    ) -> Result<(), ConnectionError> {
        self.conn.authenticate(decision, now)
    }

    /// The transport ended: see [`Connection::handle_end_of_stream`].
    pub fn handle_end_of_stream(&mut self) -> Option<ConnectionError> {
        self.conn.handle_end_of_stream()
    }

    /// Whether the driver should read more: everything read so far was delivered.
    pub fn wants_input(&self) -> bool {
        self.held.is_none() && !self.conn.is_closed() && !self.conn.has_events()
    }

    /// Encodes what [`SocketCore::take_outputs`] handed out for this peer. Errors mean the
    /// connection has just failed; they surface on its next input or timeout, and these
    /// outputs are lost with it.
    pub fn send_outputs(&mut self, outputs: impl IntoIterator<Item = PeerOutput>) {
        for output in outputs {
            let _ = match output {
                PeerOutput::Message(msg) => self.conn.send(&msg),
                PeerOutput::Subscribe(prefix) => self.conn.subscribe(&prefix),
                PeerOutput::Cancel(prefix) => self.conn.cancel(&prefix),
            };
        }
    }

    /// The next octets for the transport.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        self.conn.poll_transmit()
    }

    /// Octets encoded and not yet taken by [`Link::poll_transmit`].
    pub fn pending_transmit(&self) -> usize {
        self.conn.pending_transmit()
    }

    /// When [`Link::handle_timeout`] is next due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    /// Runs the connection's due timers (heartbeats, handshake timeout).
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        self.conn.handle_timeout(now)
    }
}

/// Offers one input to the pattern: `Ok(None)` when it was taken, `Ok(Some(input))` back
/// when the peer's queue is full.
fn offer(
    pattern: &mut Pattern,
    events: &mut VecDeque<SocketEvent>,
    peer: PeerId,
    input: PeerInput,
) -> Result<Option<PeerInput>, PeerError> {
    let subscription = matches!(input, PeerInput::Subscribe(_) | PeerInput::Cancel(_));
    match pattern.on_input(peer, input) {
        Ok(()) => {
            // XPUB hands subscriptions to the application too.
            if subscription {
                events.push_back(SocketEvent::SubscriptionsChanged(peer));
            }
            Ok(None)
        }
        Err(InputError::Full(input)) => Ok(Some(input)),
        Err(InputError::Refused(limit)) => Err(PeerError::Limit(limit)),
    }
}

/// What the core knows of a peer.
#[derive(Debug)]
struct PeerEntry {
    /// Created by `add_peer`: the queue outlives its connections.
    persistent: bool,
    /// A connection exists (its [`Link`] is with a driver).
    open: bool,
    /// That connection completed its handshake.
    ready: bool,
    /// The endpoint it belongs to, for monitor events (see [`SocketCore::set_endpoint`]).
    endpoint: Arc<str>,
    /// The hello message ([`Pattern::hello_msg`]) is still to go first on the connection.
    greet: bool,
}

impl PeerEntry {
    fn new(persistent: bool, open: bool, endpoint: Arc<str>) -> Self {
        Self {
            persistent,
            open,
            ready: false,
            endpoint,
            greet: false,
        }
    }
}

/// A socket's pattern and peers, without their connections: the state every connection of
/// the socket shares.
///
/// Apart from the [`Link`]s so that each connection can be driven on its own: an adapter
/// that shares the core between tasks behind a lock decodes, encodes and keeps time for a
/// connection outside that lock, and takes it only to hand decoded input to the pattern
/// ([`SocketCore::deliver`]) or to take the peer's queued output
/// ([`SocketCore::take_outputs`]). [`Socket`](super::Socket) composes a core with its links
/// into one sans-IO machine; both go through these same functions, so every rule lives
/// here once. The contract written on [`Socket`](super::Socket) holds for both.
#[derive(Debug)]
pub struct SocketCore {
    options: SocketOptions,
    pattern: Pattern,
    peers: BTreeMap<PeerId, PeerEntry>,
    next_peer: u64,
    events: VecDeque<SocketEvent>,
    send_blocked: bool,
    recv_waiting: bool,
}

impl SocketCore {
    /// A socket with no peers.
    pub fn new(options: SocketOptions) -> Self {
        Self {
            pattern: Pattern::new(options.connection.socket_type, &options.pattern),
            options,
            peers: BTreeMap::new(),
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
    /// [`SocketCore::remove_peer`].
    pub fn add_peer(&mut self) -> Result<PeerId, AttachError> {
        let peer = self.new_id();
        if !self.options.immediate {
            self.pattern.attach(peer)?;
            self.note_writable();
        }
        self.peers
            .insert(peer, PeerEntry::new(true, false, Arc::from("")));
        Ok(peer)
    }

    /// The transport to a peer from [`SocketCore::add_peer`] is up: a ZMTP connection
    /// starts (as client), replacing any earlier one. `None` for an unknown peer.
    pub fn open(&mut self, peer: PeerId, now: Instant) -> Option<Link> {
        let entry = self.peers.get_mut(&peer)?;
        entry.open = true;
        entry.ready = false;
        self.events.push_back(SocketEvent::Wake(peer));
        Some(self.link(Role::Client, now))
    }

    /// A peer connected to one of our endpoints: a new peer with a connection (as server).
    /// Its queue is created when the handshake completes and goes away with the connection.
    pub fn accept(&mut self, now: Instant) -> (PeerId, Link) {
        let peer = self.new_id();
        self.peers
            .insert(peer, PeerEntry::new(false, true, Arc::from("")));
        self.events.push_back(SocketEvent::Wake(peer));
        (peer, self.link(Role::Server, now))
    }

    fn link(&self, role: Role, now: Instant) -> Link {
        Link {
            conn: Connection::new(self.options.connection.clone(), role, now),
            held: None,
        }
    }

    /// Names the endpoint a peer belongs to (the endpoint connected to, or the bound one
    /// it was accepted on), for the monitor events the core reports about it.
    pub fn set_endpoint(&mut self, peer: PeerId, endpoint: Arc<str>) {
        if let Some(entry) = self.peers.get_mut(&peer) {
            entry.endpoint = endpoint;
        }
    }

    /// The endpoint named for `peer` by [`SocketCore::set_endpoint`].
    pub fn endpoint(&self, peer: PeerId) -> Option<&Arc<str>> {
        self.peers.get(&peer).map(|entry| &entry.endpoint)
    }

    /// Reports what the adapter saw (listening, accepted, connect delayed, retried, failed,
    /// closed) among the core's own monitor events, in order.
    pub fn monitor(&mut self, event: MonitorEvent) {
        self.events.push_back(SocketEvent::Monitor(event));
    }

    /// The peer's transport closed for `reason` (or was closed after an error), and with
    /// it `link`: what the connection decoded before is delivered (see
    /// [`Pattern::accept_final_input`]), then an accepted peer goes away, a connected one
    /// keeps its queue. The monitor hears of it: [`MonitorEvent::HandshakeFailed`] first if
    /// the handshake had not completed, then [`MonitorEvent::Disconnected`]. A connection
    /// the peer or the network dropped (any reason but [`DisconnectReason::Local`]) is also
    /// reported to the application where the pattern says so (ROUTER_NOTIFY,
    /// DISCONNECT_MSG); libzmq reports only those, not the ones we end ourselves.
    pub fn close(&mut self, peer: PeerId, link: Option<&mut Link>, reason: DisconnectReason) {
        let Some(entry) = self.peers.get(&peer) else {
            return;
        };
        if entry.open {
            let endpoint = Arc::clone(&entry.endpoint);
            if !entry.ready {
                self.monitor(MonitorEvent::HandshakeFailed {
                    endpoint: Arc::clone(&endpoint),
                    peer,
                    reason: reason.clone(),
                });
            }
            self.monitor(MonitorEvent::Disconnected {
                endpoint,
                peer,
                reason: reason.clone(),
            });
        }
        let dropped = reason != DisconnectReason::Local;
        // Which messages a peer gets must not depend on how the transport chunked the
        // stream before an error or end of stream.
        if let Some(link) = link {
            self.pattern.accept_final_input(peer);
            let _ = self.deliver(peer, link);
        }
        let entry = self.peers.get_mut(&peer).expect("checked above");
        let was_ready = std::mem::take(&mut entry.ready);
        entry.open = false;
        // ROUTER_NOTIFY and DISCONNECT_MSG: the drop reported as the peer's last input.
        if was_ready && dropped {
            let accepted = !entry.persistent;
            self.pattern.accept_final_input(peer);
            self.pattern.connection_ended(peer, accepted);
        }
        let entry = self.peers.get_mut(&peer).expect("checked above");
        if entry.persistent && !self.options.immediate {
            self.pattern.disconnected(peer);
        } else {
            let persistent = entry.persistent;
            self.pattern.detach(peer);
            if !persistent {
                self.peers.remove(&peer);
            }
        }
        // A message reporting the drop (ROUTER_NOTIFY, DISCONNECT_MSG) or an XPUB's
        // notice of the subscriptions that went with the peer may now wait.
        if std::mem::take(&mut self.recv_waiting) {
            self.events.push_back(SocketEvent::Readable);
        }
        self.after_pattern_change();
    }

    /// Removes a peer and its queue (disconnect or unbind).
    pub fn remove_peer(&mut self, peer: PeerId) {
        if self.peers.remove(&peer).is_some() {
            self.pattern.detach(peer);
            self.after_pattern_change();
        }
    }

    /// Moves what `link`'s connection decoded into the pattern, until the peer's queue
    /// refuses more (the rest is held in the link and offered again by the next call, once
    /// a [`SocketEvent::Wake`] says there is room). An error means the connection must
    /// close: the pattern refused the peer or it broke a limit.
    pub fn deliver(&mut self, peer: PeerId, link: &mut Link) -> Result<(), PeerError> {
        let Self {
            pattern,
            peers,
            events,
            ..
        } = self;
        let entry = peers.get_mut(&peer).ok_or(PeerError::NotConnected)?;
        let mut delivered = false;
        let mut connected = false;
        let result = loop {
            let input = match link.held.take() {
                Some(input) => input,
                None => match link.conn.poll_event() {
                    None => break Ok(()),
                    Some(Event::Ready(info)) => {
                        if let Err(err) = pattern.connected(peer, &info) {
                            break Err(err.into());
                        }
                        entry.ready = true;
                        entry.greet = pattern.hello_msg().is_some();
                        let info = Arc::new(info);
                        events.push_back(SocketEvent::Monitor(MonitorEvent::HandshakeSucceeded {
                            endpoint: Arc::clone(&entry.endpoint),
                            peer,
                            info: Arc::clone(&info),
                        }));
                        events.push_back(SocketEvent::Connected { peer, info });
                        connected = true;
                        delivered = true; // a ROUTER_NOTIFY message may wait
                        continue;
                    }
                    Some(Event::Message(msg)) => PeerInput::Message(msg),
                    Some(Event::Subscribe(prefix)) => PeerInput::Subscribe(prefix),
                    Some(Event::Cancel(prefix)) => PeerInput::Cancel(prefix),
                },
            };
            match offer(pattern, events, peer, input) {
                Ok(None) => delivered = true,
                Ok(Some(input)) => {
                    link.held = Some(input);
                    break Ok(());
                }
                Err(err) => break Err(err),
            }
        };
        self.after_delivery(delivered, connected);
        result
    }

    fn after_delivery(&mut self, delivered: bool, connected: bool) {
        if delivered && self.recv_waiting {
            self.recv_waiting = false;
            self.events.push_back(SocketEvent::Readable);
        }
        if connected {
            self.note_writable(); // a new peer may take what could not be sent
        }
        self.after_pattern_change();
    }

    /// A peer we connect to ([`SocketCore::add_peer`]) in this same process: no ZMTP
    /// connection, `info` is what it would have announced
    /// ([`Config::peer_info`](crate::proto::Config::peer_info)). Its queue is ready at
    /// once; messages move with [`SocketCore::take_direct`] and
    /// [`SocketCore::deliver_direct`]. An error (incompatible socket types, a pattern that
    /// refuses the peer) closes it again, and the monitor says why.
    pub fn open_direct(&mut self, peer: PeerId, info: PeerInfo) -> Result<(), PeerError> {
        let Some(entry) = self.peers.get_mut(&peer) else {
            return Err(PeerError::NotConnected);
        };
        entry.open = true;
        entry.ready = false;
        self.ready_direct(peer, info)
    }

    /// A peer of this same process connected to our bound `endpoint` (from `remote`): a
    /// new peer, ready at once (see [`SocketCore::open_direct`]), reported to the monitor
    /// as accepted; on error it is gone again.
    pub fn accept_direct(
        &mut self,
        endpoint: Arc<str>,
        remote: Arc<str>,
        info: PeerInfo,
    ) -> Result<PeerId, PeerError> {
        let peer = self.new_id();
        self.peers
            .insert(peer, PeerEntry::new(false, true, Arc::clone(&endpoint)));
        self.monitor(MonitorEvent::Accepted {
            endpoint,
            peer,
            remote,
        });
        self.ready_direct(peer, info).map(|()| peer)
    }

    fn ready_direct(&mut self, peer: PeerId, info: PeerInfo) -> Result<(), PeerError> {
        let ours = self.socket_type();
        let result = if ours.is_compatible_with(info.socket_type) {
            self.pattern.connected(peer, &info).map_err(PeerError::from)
        } else {
            Err(PeerError::Protocol(
                ConnectionError::IncompatibleSocketType {
                    ours,
                    peer: info.socket_type.as_str().to_owned(),
                },
            ))
        };
        if let Err(err) = result {
            self.close(peer, None, err.clone().into());
            return Err(err);
        }
        let entry = self.peers.get_mut(&peer).expect("inserted or checked");
        entry.ready = true;
        entry.greet = self.pattern.hello_msg().is_some();
        let info = Arc::new(info);
        self.events
            .push_back(SocketEvent::Monitor(MonitorEvent::HandshakeSucceeded {
                endpoint: Arc::clone(&entry.endpoint),
                peer,
                info: Arc::clone(&info),
            }));
        self.events.push_back(SocketEvent::Connected { peer, info });
        // A ROUTER_NOTIFY message may wait for the application.
        self.after_delivery(true, true);
        Ok(())
    }

    /// Takes up to `max` outputs queued for a peer opened with
    /// [`SocketCore::open_direct`] or [`SocketCore::accept_direct`], to hand to the other
    /// socket's [`SocketCore::deliver_direct`] as they are (messages move by value).
    pub fn take_direct(&mut self, peer: PeerId, max: usize, out: &mut Vec<PeerOutput>) {
        let Some(entry) = self.peers.get_mut(&peer).filter(|entry| entry.ready) else {
            return;
        };
        if std::mem::take(&mut entry.greet)
            && let Some(hello) = self.pattern.hello_msg()
        {
            out.push(PeerOutput::Message(hello.clone())); // before anything queued
        }
        let mut moved = false;
        for _ in 0..max {
            let Some(output) = self.pattern.pop_output(peer) else {
                break;
            };
            moved |= matches!(output, PeerOutput::Message(_));
            out.push(output);
        }
        if moved && self.below_low_water(peer) {
            self.note_writable();
        }
    }

    /// Hands a direct peer's input to the pattern, from the front, until its queue is
    /// full (the rest stays in `inputs`; a [`SocketEvent::Wake`] for the peer says when
    /// to offer it again). An error means the peer broke a limit and must be closed.
    pub fn deliver_direct(
        &mut self,
        peer: PeerId,
        inputs: &mut VecDeque<PeerInput>,
    ) -> Result<(), PeerError> {
        if !self.is_ready(peer) {
            return Err(PeerError::NotConnected);
        }
        let mut delivered = false;
        let mut result = Ok(());
        while let Some(input) = inputs.pop_front() {
            match offer(&mut self.pattern, &mut self.events, peer, input) {
                Ok(None) => delivered = true,
                Ok(Some(input)) => {
                    inputs.push_front(input);
                    break;
                }
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
        }
        self.after_delivery(delivered, false);
        result
    }

    /// Takes what is queued for `peer` into `out`, as much as `link`'s connection has room
    /// for (see [`SocketOptions::transmit_buffer`]); nothing before its handshake. The
    /// caller encodes it with [`Link::send_outputs`], outside any lock it holds the core in.
    pub fn take_outputs(&mut self, peer: PeerId, link: &Link, out: &mut Vec<PeerOutput>) {
        if !link.conn.is_ready() {
            return;
        }
        if let Some(entry) = self.peers.get_mut(&peer)
            && std::mem::take(&mut entry.greet)
            && let Some(hello) = self.pattern.hello_msg()
        {
            out.push(PeerOutput::Message(hello.clone())); // before anything queued
        }
        let mut room = self
            .options
            .transmit_buffer
            .saturating_sub(link.conn.pending_transmit());
        let mut moved = false;
        while room > 0 {
            let Some(output) = self.pattern.pop_output(peer) else {
                break;
            };
            let octets = match &output {
                PeerOutput::Message(msg) => {
                    moved = true;
                    msg.byte_len() + msg.len()
                }
                PeerOutput::Subscribe(prefix) | PeerOutput::Cancel(prefix) => prefix.len() + 1,
            };
            room = room.saturating_sub(octets);
            out.push(output);
        }
        if moved && self.below_low_water(peer) {
            self.note_writable();
        }
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
        Ok(self.recv_from()?.map(|(_, msg)| msg))
    }

    /// [`SocketCore::recv`], with the peer the message came from.
    pub fn recv_from(&mut self) -> Result<Option<(PeerId, Msg)>, RecvError> {
        let result = self.pattern.recv_from();
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
        self.peers.keys().copied()
    }

    /// Whether the peer exists and has a connection.
    pub fn is_open(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|entry| entry.open)
    }

    /// Whether the peer's connection has completed its handshake.
    pub fn is_ready(&self, peer: PeerId) -> bool {
        self.peers.get(&peer).is_some_and(|entry| entry.ready)
    }

    /// Queue sizes of `peer`.
    pub fn stats(&self, peer: PeerId) -> Option<QueueStats> {
        self.pattern.stats(peer)
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
