//! [`Socket`]: a [`SocketCore`] plus the [`Link`] of every peer — a whole ZeroMQ socket as
//! one sans-IO machine.
//!
//! An adapter gives each peer's transport a driver that moves octets: what it reads goes to
//! [`Socket::handle_input`], what [`Socket::poll_transmit`] returns goes to the transport,
//! and [`Socket::poll_timeout`] says when to call [`Socket::handle_timeout`]. The
//! application side calls [`Socket::send`] and [`Socket::recv`]. [`SocketEvent`]s say which
//! driver or waiter has something to do.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::core::{Link, PeerError, SocketCore, SocketEvent, SocketOptions};
use super::monitor::{DisconnectReason, MonitorEvent};
use super::{AttachError, Pattern, PeerId, PeerInput, PeerOutput, RecvError, SendError};
use crate::Msg;
use crate::proto::{Connection, PeerInfo, SocketType};
use crate::security::{AuthDecision, AuthRequest};

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
/// A peer in the same process needs no ZMTP: [`open_direct`](Self::open_direct) or
/// [`accept_direct`](Self::accept_direct) makes it ready at once, and messages move by
/// value between the two sockets with [`take_direct`](Self::take_direct) and
/// [`deliver_direct`](Self::deliver_direct) (as `inproc://` does).
///
/// `sim::Network` drives sockets in memory this way, `examples/blocking_loop.rs` over
/// `std::net` without async, and the `io` layer with one task per connection.
#[derive(Debug)]
pub struct Socket {
    core: SocketCore,
    links: BTreeMap<PeerId, Link>,
    /// Peers in the same process (no ZMTP connection), with what they announced.
    direct: BTreeMap<PeerId, PeerInfo>,
    /// Scratch space for [`SocketCore::take_outputs`], kept to avoid an allocation per call.
    outputs: Vec<PeerOutput>,
}

impl Socket {
    /// A socket with no peers.
    pub fn new(options: SocketOptions) -> Self {
        Self {
            core: SocketCore::new(options),
            links: BTreeMap::new(),
            direct: BTreeMap::new(),
            outputs: Vec::new(),
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.core.socket_type()
    }

    /// The options the socket was built with.
    pub fn options(&self) -> &SocketOptions {
        self.core.options()
    }

    /// A peer we will connect to: its queue exists now (unless `immediate`), accepts
    /// messages as the pattern allows, and survives every reconnect until
    /// [`Socket::remove_peer`].
    pub fn add_peer(&mut self) -> Result<PeerId, AttachError> {
        self.core.add_peer()
    }

    /// The transport to a peer from [`Socket::add_peer`] is up: a ZMTP connection starts
    /// (as client), replacing any earlier one.
    pub fn open(&mut self, peer: PeerId, now: Instant) {
        if let Some(link) = self.core.open(peer, now) {
            self.direct.remove(&peer);
            self.links.insert(peer, link);
        }
    }

    /// A peer from [`Socket::add_peer`] is a peer in the same process, no ZMTP: it is ready
    /// at once, `info` being what it would have announced
    /// ([`Config::peer_info`](crate::proto::Config::peer_info)). Messages move with
    /// [`Socket::take_direct`] and [`Socket::deliver_direct`]. An error (incompatible socket
    /// types, a pattern that refuses the peer) closes it again, and the monitor says why.
    pub fn open_direct(&mut self, peer: PeerId, info: PeerInfo) -> Result<(), PeerError> {
        self.links.remove(&peer);
        self.core.open_direct(peer, info.clone())?;
        self.direct.insert(peer, info);
        Ok(())
    }

    /// A peer in the same process, no ZMTP, connected to our bound `endpoint` (from
    /// `remote`): a new peer, ready at once (see [`Socket::open_direct`]), reported to the
    /// monitor as accepted; on error it is gone again.
    pub fn accept_direct(
        &mut self,
        endpoint: Arc<str>,
        remote: Arc<str>,
        info: PeerInfo,
    ) -> Result<PeerId, PeerError> {
        let peer = self.core.accept_direct(endpoint, remote, info.clone())?;
        self.direct.insert(peer, info);
        Ok(peer)
    }

    /// Takes up to `max` outputs queued for a peer in the same process (no ZMTP), to hand
    /// to the other socket's [`Socket::deliver_direct`] as inputs (messages move by value).
    pub fn take_direct(&mut self, peer: PeerId, max: usize, out: &mut Vec<PeerOutput>) {
        self.core.take_direct(peer, max, out);
    }

    /// Input from a peer in the same process (no ZMTP), taken from the front until its
    /// queue is full: the rest stays in `inputs`, to offer again after a
    /// [`SocketEvent::Wake`] for the peer. An error means the peer broke a limit and must be
    /// closed ([`Socket::close`]).
    pub fn deliver_direct(
        &mut self,
        peer: PeerId,
        inputs: &mut VecDeque<PeerInput>,
    ) -> Result<(), PeerError> {
        self.core.deliver_direct(peer, inputs)
    }

    /// A peer connected to one of our endpoints: a new peer with a connection (as server).
    /// Its queue is created when the handshake completes and goes away with the connection.
    pub fn accept(&mut self, now: Instant) -> PeerId {
        let (peer, link) = self.core.accept(now);
        self.links.insert(peer, link);
        peer
    }

    /// The peer's transport closed for `reason` (end of stream, a transport error, or
    /// closed after a method returned an error, which converts into the reason): its
    /// connection is dropped, after what it decoded is delivered. An accepted peer goes
    /// away with it; a connected one keeps its queue. The monitor events say why.
    pub fn close(&mut self, peer: PeerId, reason: impl Into<DisconnectReason>) {
        self.direct.remove(&peer);
        let mut link = self.links.remove(&peer);
        self.core.close(peer, link.as_mut(), reason.into());
    }

    /// Names the endpoint a peer belongs to, for its monitor events (see
    /// [`SocketCore::set_endpoint`]).
    pub fn set_endpoint(&mut self, peer: PeerId, endpoint: impl Into<std::sync::Arc<str>>) {
        self.core.set_endpoint(peer, endpoint.into());
    }

    /// Reports a transport-level step among the socket's monitor events (see
    /// [`SocketCore::monitor`]).
    pub fn monitor(&mut self, event: MonitorEvent) {
        self.core.monitor(event);
    }

    /// Removes a peer and its queue (disconnect or unbind).
    pub fn remove_peer(&mut self, peer: PeerId) {
        self.links.remove(&peer);
        self.direct.remove(&peer);
        self.core.remove_peer(peer);
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
        let link = self.links.get_mut(&peer).ok_or(PeerError::NotConnected)?;
        let decoded = link.handle_input(data, now);
        // Messages decoded before a protocol error in the same octets go to the pattern
        // first, exactly as if the error had come in a later read.
        let delivered = self.core.deliver(peer, link);
        decoded?;
        delivered
    }

    /// A client waiting for the application's decision, with its peer (servers whose
    /// [`Config::authenticate`](crate::proto::Config::authenticate) is set): answer with
    /// [`Socket::authenticate`]. Each request is returned once.
    #[must_use]
    pub fn poll_auth_request(&mut self) -> Option<(PeerId, AuthRequest)> {
        self.links
            .iter_mut()
            .find_map(|(&peer, link)| link.poll_auth_request().map(|request| (peer, request)))
    }

    /// The application's decision on `peer`'s client. An error means the transport should
    /// be flushed ([`Socket::poll_transmit`]: a refused client is told why) and closed.
    pub fn authenticate(
        &mut self,
        peer: PeerId,
        decision: AuthDecision,
        now: Instant,
    ) -> Result<(), PeerError> {
        let link = self.links.get_mut(&peer).ok_or(PeerError::NotConnected)?;
        let decided = link.authenticate(decision, now);
        let delivered = self.core.deliver(peer, link);
        decided?;
        delivered
    }

    /// Room to read the peer's next octets into directly while a large body arrives (it
    /// becomes the message's frame with no copy); fill a prefix, then
    /// [`Socket::handle_received`]. `None`: use [`Socket::handle_input`].
    pub fn receive_in_place(&mut self, peer: PeerId) -> Option<&mut [u8]> {
        self.links.get_mut(&peer)?.receive_in_place()
    }

    /// `n` octets were read into the room [`Socket::receive_in_place`] lent: the same as
    /// [`Socket::handle_input`] with them.
    pub fn handle_received(
        &mut self,
        peer: PeerId,
        n: usize,
        now: Instant,
    ) -> Result<(), PeerError> {
        let link = self.links.get_mut(&peer).ok_or(PeerError::NotConnected)?;
        let decoded = link.handle_received(n, now);
        let delivered = self.core.deliver(peer, link);
        decoded?;
        delivered
    }

    /// Whether the peer's driver should read more: everything read so far was delivered.
    pub fn wants_input(&self, peer: PeerId) -> bool {
        self.links.get(&peer).is_some_and(Link::wants_input)
    }

    /// The next octets for the peer's transport; moves queued messages into the
    /// connection as long as its buffer has room.
    #[must_use]
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Bytes> {
        let link = self.links.get_mut(&peer)?;
        self.core.take_outputs(peer, link, &mut self.outputs);
        link.send_outputs(self.outputs.drain(..));
        link.poll_transmit()
    }

    /// When the peer's connection next needs [`Socket::handle_timeout`].
    #[must_use]
    pub fn poll_timeout(&self, peer: PeerId) -> Option<Instant> {
        self.links.get(&peer)?.poll_timeout()
    }

    /// Runs the peer's due timers (heartbeats, handshake timeout).
    pub fn handle_timeout(&mut self, peer: PeerId, now: Instant) -> Result<(), PeerError> {
        let link = self.links.get_mut(&peer).ok_or(PeerError::NotConnected)?;
        link.handle_timeout(now)?;
        Ok(())
    }

    /// The earliest deadline over all peers, for driving the whole socket from one loop.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        self.links.values().filter_map(Link::poll_timeout).min()
    }

    /// The application sends a message. [`SendError::WouldBlock`] hands it back; retry
    /// after [`SocketEvent::Writable`].
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        self.core.send(msg)
    }

    /// The application takes a message; `Ok(None)` until one arrives
    /// ([`SocketEvent::Readable`] says when to try again).
    pub fn recv(&mut self) -> Result<Option<Msg>, RecvError> {
        self.core.recv()
    }

    /// [`Socket::recv`], with the peer the message came from: its
    /// [`PeerInfo`](crate::proto::PeerInfo) (metadata, authenticated user id) is on
    /// [`Socket::peer_info`] while it is connected.
    pub fn recv_from(&mut self) -> Result<Option<(PeerId, Msg)>, RecvError> {
        self.core.recv_from()
    }

    /// What the peer announced and was authenticated as, while its connection is up.
    pub fn peer_info(&self, peer: PeerId) -> Option<&PeerInfo> {
        match self.direct.get(&peer) {
            Some(info) => Some(info),
            None => self.links.get(&peer)?.connection().peer(),
        }
    }

    /// SUB/XSUB: subscribes to a prefix on every current and future peer.
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        self.core.subscribe(prefix)
    }

    /// SUB/XSUB: drops one subscription.
    pub fn unsubscribe(&mut self, prefix: &[u8]) -> Result<(), SendError> {
        self.core.unsubscribe(prefix)
    }

    /// Whether a peer's outgoing queue has filled to half its HWM, gathered a write batch or
    /// dropped messages since the last call: see [`Pattern::take_send_pressure`].
    #[must_use]
    pub fn take_send_pressure(&mut self) -> bool {
        self.core.take_send_pressure()
    }

    /// The next event for the adapter.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SocketEvent> {
        self.core.poll_event()
    }

    /// All peers (with or without a connection), in no particular order.
    pub fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.core.peers()
    }

    /// Whether the peer exists and has a connection (ZMTP or direct).
    pub fn is_open(&self, peer: PeerId) -> bool {
        self.links.contains_key(&peer) || self.direct.contains_key(&peer)
    }

    /// Whether the peer is in the same process, connected with no ZMTP
    /// ([`Socket::open_direct`], [`Socket::accept_direct`]).
    pub fn is_direct(&self, peer: PeerId) -> bool {
        self.direct.contains_key(&peer)
    }

    /// The peer's ZMTP connection, for inspection.
    pub fn connection_of(&self, peer: PeerId) -> Option<&Connection> {
        self.links.get(&peer).map(Link::connection)
    }

    /// The pattern, for inspection (queue sizes, peers).
    pub fn pattern(&self) -> &Pattern {
        self.core.pattern()
    }
}
