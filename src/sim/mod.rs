//! Whole ZeroMQ topologies in memory: [`Network`] wires [`Socket`]s together with simulated
//! transports (ZMTP over a byte pipe, or `inproc://` between direct peers), under virtual
//! time, deterministically. No threads, no sockets, no clock — a
//! test or a fuzzer can run thousands of messages through REQ/REP, PUB/SUB … in
//! microseconds and replay any failure exactly.
//!
//! ```
//! use std::time::Instant;
//! use zmq_sansio::Msg;
//! use zmq_sansio::pattern::SocketOptions;
//! use zmq_sansio::proto::SocketType;
//! use zmq_sansio::sim::Network;
//!
//! let mut net = Network::new(Instant::now());
//! let rep = net.add_socket(SocketOptions::new(SocketType::Rep));
//! let req = net.add_socket(SocketOptions::new(SocketType::Req));
//! net.connect(req, rep);
//! net.run();
//!
//! net.socket(req).send(Msg::from("ping")).unwrap();
//! net.run();
//! let request = net.socket(rep).recv().unwrap().unwrap();
//! net.socket(rep).send(request).unwrap();
//! net.run();
//! assert_eq!(net.socket(req).recv().unwrap().unwrap(), Msg::from("ping"));
//! ```

mod inproc_link;
mod zmtp_link;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::inproc_link::InprocLink;
use self::zmtp_link::{Limits, ZmtpLink};
use crate::pattern::monitor::TransportError;
use crate::pattern::{
    DisconnectReason, MonitorEvent, MonitorQueue, PeerError, PeerId, PeerOutput, Socket,
    SocketEvent, SocketOptions,
};
use crate::proxy::Proxy;
use crate::security::{AuthDecision, AuthRequest, AuthStatus};

/// Octets a simulated transport holds in each direction before the sender must wait (a
/// stand-in for the kernel's socket buffers).
pub const DEFAULT_LINK_CAPACITY: usize = 256 * 1024;

/// Monitor events a [`Network`] keeps per socket until
/// [`Network::take_monitor_events`] takes them.
pub const MONITOR_CAPACITY: usize = 64 * 1024;

/// The endpoint name of a simulated socket in monitor events.
fn sim_endpoint(socket: SocketId) -> Arc<str> {
    format!("sim://{}", socket.0).into()
}

/// A socket in a [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub usize);

/// A proxy of a [`Network`] ([`Network::add_proxy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProxyId(pub usize);

/// A proxy machine and the sockets it joins.
#[derive(Debug)]
struct ProxyRun {
    proxy: Proxy,
    frontend: SocketId,
    backend: SocketId,
    capture: Option<SocketId>,
}

/// A simulated transport between two sockets of a [`Network`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// One end of a link: a socket and the peer the other end is there.
type End = (SocketId, PeerId);

/// What carries a link's traffic.
#[derive(Debug)]
enum Transport {
    /// ZMTP connections over a byte pipe.
    Zmtp(ZmtpLink),
    /// Direct peers, messages moved by value (`inproc://`).
    Inproc(InprocLink),
}

#[derive(Debug)]
struct Link {
    /// The connecting side (its peer persists across reconnects) and its peer id there.
    connector: (SocketId, PeerId),
    /// The binding side and the peer id the accepted connection got there.
    binder: (SocketId, Option<PeerId>),
    up: bool,
    /// The transport stays up but delivers nothing (a pulled cable, a frozen peer).
    partitioned: bool,
    transport: Transport,
    /// Why the transport last closed, if it failed.
    error: Option<PeerError>,
}

/// Decides on a client of a socket whose options ask for authentication
/// ([`Config::authenticate`](crate::proto::Config::authenticate)).
pub type Authenticator = Box<dyn FnMut(&AuthRequest) -> AuthDecision + Send>;

/// Sockets and the simulated transports between them, under virtual time.
pub struct Network {
    sockets: Vec<Socket>,
    /// Each socket's monitor events, by socket index, for tests to assert on.
    monitors: Vec<MonitorQueue>,
    /// By socket index.
    authenticators: BTreeMap<usize, Authenticator>,
    links: Vec<Link>,
    /// Brokers between sockets of this network, run on every step.
    proxies: Vec<ProxyRun>,
    now: Instant,
    limits: Limits,
    /// Scratch space for moving messages over inproc links.
    outputs: Vec<PeerOutput>,
}

impl Network {
    /// An empty network whose virtual clock starts at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            sockets: Vec::new(),
            monitors: Vec::new(),
            authenticators: BTreeMap::new(),
            links: Vec::new(),
            proxies: Vec::new(),
            now,
            limits: Limits {
                capacity: DEFAULT_LINK_CAPACITY,
                max_chunk: usize::MAX,
            },
            outputs: Vec::new(),
        }
    }

    /// Cuts every delivery over a ZMTP link into pieces of at most `max_chunk` octets (to exercise decoders
    /// under arbitrary chunking).
    pub fn set_max_chunk(&mut self, max_chunk: usize) {
        self.limits.max_chunk = max_chunk.max(1);
    }

    /// Sets how many octets each transport direction buffers (ZMTP links).
    pub fn set_link_capacity(&mut self, capacity: usize) {
        self.limits.capacity = capacity.max(1);
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds a socket.
    pub fn add_socket(&mut self, options: SocketOptions) -> SocketId {
        self.sockets.push(Socket::new(options));
        self.monitors.push(MonitorQueue::new(MONITOR_CAPACITY));
        SocketId(self.sockets.len() - 1)
    }

    /// The monitor events of `socket` recorded since the last call, oldest first (at most
    /// [`MONITOR_CAPACITY`] are kept; a [`MonitorEvent::Missed`] marks any dropped). A
    /// socket's endpoint is `sim://<index>`: the connecting side names the binding
    /// socket's, the binding side reports where a connection came from as the
    /// connecting socket's.
    pub fn take_monitor_events(&mut self, socket: SocketId) -> Vec<MonitorEvent> {
        std::iter::from_fn(|| self.monitors[socket.0].pop()).collect()
    }

    /// Answers the authentication requests of `socket`'s clients (a socket that asks with
    /// no authenticator refuses them, as an io socket does).
    pub fn set_authenticator(
        &mut self,
        socket: SocketId,
        decide: impl FnMut(&AuthRequest) -> AuthDecision + Send + 'static,
    ) {
        self.authenticators.insert(socket.0, Box::new(decide));
    }

    /// The socket, to send, receive or inspect.
    pub fn socket(&mut self, id: SocketId) -> &mut Socket {
        &mut self.sockets[id.0]
    }

    /// Runs a [`Proxy`] between two sockets of the network (and copies to a capture
    /// socket), as an application would with `zmq_proxy`: on every step it takes what they
    /// received and sends it on. Steer it through [`Network::proxy`].
    ///
    /// # Panics
    /// If the sockets are not distinct.
    pub fn add_proxy(
        &mut self,
        frontend: SocketId,
        backend: SocketId,
        capture: Option<SocketId>,
    ) -> ProxyId {
        assert!(
            frontend != backend && capture != Some(frontend) && capture != Some(backend),
            "a proxy joins distinct sockets"
        );
        self.proxies.push(ProxyRun {
            proxy: Proxy::new(capture.is_some()),
            frontend,
            backend,
            capture,
        });
        ProxyId(self.proxies.len() - 1)
    }

    /// The proxy, to steer it or read its statistics.
    pub fn proxy(&mut self, id: ProxyId) -> &mut Proxy {
        &mut self.proxies[id.0].proxy
    }

    /// `connector` connects to `binder`: a peer that persists across reconnects on the
    /// connecting side, an accepted peer on the binding side, and a transport between them.
    ///
    /// # Panics
    /// If the connecting socket refuses another peer (a PAIR that has one).
    pub fn connect(&mut self, connector: SocketId, binder: SocketId) -> LinkId {
        self.add_link(connector, binder, Transport::Zmtp(ZmtpLink::default()))
    }

    /// `connector` connects to `binder` over `inproc://`: the two ends are peers in the
    /// same process, with no ZMTP (each is told what the other would have announced), and
    /// messages move by value from one socket's queue to the other's, as the io layer's
    /// `inproc://` does: at most one message is in flight beyond the room the receiver's
    /// queue has, so the link holds the sender's HWM plus the receiver's, plus one. If one
    /// side refuses the other (incompatible types), the link stays down and
    /// [`Network::link_error`] says why.
    ///
    /// # Panics
    /// If the connecting socket refuses another peer (a PAIR that has one).
    pub fn connect_inproc(&mut self, connector: SocketId, binder: SocketId) -> LinkId {
        self.add_link(connector, binder, Transport::Inproc(InprocLink::default()))
    }

    fn add_link(&mut self, connector: SocketId, binder: SocketId, transport: Transport) -> LinkId {
        let peer = self.sockets[connector.0]
            .add_peer()
            .expect("the connecting socket accepts another peer");
        self.sockets[connector.0].set_endpoint(peer, sim_endpoint(binder));
        self.links.push(Link {
            connector: (connector, peer),
            binder: (binder, None),
            up: false,
            partitioned: false,
            transport,
            error: None,
        });
        let link = LinkId(self.links.len() - 1);
        self.reconnect(link);
        link
    }

    /// Whether the link is an `inproc://` one ([`Network::connect_inproc`]).
    pub fn is_inproc(&self, link: LinkId) -> bool {
        matches!(self.links[link.0].transport, Transport::Inproc(_))
    }

    /// Messages an inproc link has taken from a sender and not yet put in the receiver's
    /// queue: towards the binding side, towards the connecting side (at most one beyond the
    /// room the receiver had when last seen). `None` for a ZMTP link.
    pub fn in_flight(&self, link: LinkId) -> Option<(usize, usize)> {
        match &self.links[link.0].transport {
            Transport::Inproc(inproc) => Some(inproc.in_flight()),
            Transport::Zmtp(_) => None,
        }
    }

    /// Closes the transport; the connecting side keeps its peer's queue, the binding side
    /// forgets its peer. A ZMTP link is dropped by the network: both sides see a connection
    /// reset. An inproc link has no network between its ends: the binding side lets go of
    /// it (as when an io socket unbinds the name or closes), so it sees
    /// [`DisconnectReason::Local`] and the connecting side [`DisconnectReason::PeerClosed`].
    /// What was in flight on it is lost.
    pub fn disconnect(&mut self, link: LinkId) {
        match self.links[link.0].transport {
            Transport::Zmtp(_) => {
                let reset = DisconnectReason::Transport(TransportError {
                    kind: std::io::ErrorKind::ConnectionReset,
                    message: "the simulated network dropped the connection".into(),
                });
                self.close_link(link, reset.clone(), reset);
            }
            Transport::Inproc(_) => {
                self.close_link(link, DisconnectReason::PeerClosed, DisconnectReason::Local);
            }
        }
    }

    /// Closes the transport, each side for its own reason.
    fn close_link(
        &mut self,
        link: LinkId,
        connector_reason: DisconnectReason,
        binder_reason: DisconnectReason,
    ) {
        let link = &mut self.links[link.0];
        if !link.up {
            return;
        }
        link.up = false;
        link.transport = match link.transport {
            Transport::Zmtp(_) => Transport::Zmtp(ZmtpLink::default()),
            Transport::Inproc(_) => Transport::Inproc(InprocLink::default()),
        };
        let (c, peer) = link.connector;
        self.sockets[c.0].close(peer, connector_reason);
        if let (b, Some(peer)) = link.binder {
            self.sockets[b.0].close(peer, binder_reason);
        }
    }

    /// Opens a fresh transport for a link whose transport is down (an inproc link whose
    /// ends refuse each other stays down, [`Network::link_error`] saying why).
    pub fn reconnect(&mut self, link: LinkId) {
        let now = self.now;
        let link = &mut self.links[link.0];
        if link.up {
            return;
        }
        let (c, peer) = link.connector;
        let (b, _) = link.binder;
        let endpoint = sim_endpoint(b);
        self.sockets[c.0].monitor(MonitorEvent::ConnectDelayed {
            endpoint: Arc::clone(&endpoint),
            peer,
        });
        let accepted = match link.transport {
            Transport::Zmtp(_) => {
                let socket = &mut self.sockets[c.0];
                socket.open(peer, now);
                socket.monitor(MonitorEvent::Connected {
                    endpoint: Arc::clone(&endpoint),
                    peer,
                    remote: Arc::clone(&endpoint),
                });
                let socket = &mut self.sockets[b.0];
                let accepted = socket.accept(now);
                socket.set_endpoint(accepted, Arc::clone(&endpoint));
                socket.monitor(MonitorEvent::Accepted {
                    endpoint,
                    peer: accepted,
                    remote: sim_endpoint(c),
                });
                accepted
            }
            Transport::Inproc(_) => {
                // The order of io::inproc: the binding side accepts, then the connecting
                // side hears it is connected and opens its peer.
                let opened = inproc_link::open(
                    &mut self.sockets,
                    (c, peer),
                    b,
                    Arc::clone(&endpoint),
                    sim_endpoint(c),
                );
                match opened {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        link.binder.1 = None;
                        link.error = Some(err);
                        return;
                    }
                }
            }
        };
        link.binder.1 = Some(accepted);
        link.up = true;
        link.partitioned = false;
        link.error = None;
    }

    /// Stops (or resumes) delivery on the link without closing it: octets written pile up
    /// in the transport and nothing arrives, as when a cable is pulled. Heartbeats notice.
    pub fn partition(&mut self, link: LinkId, partitioned: bool) {
        self.links[link.0].partitioned = partitioned;
    }

    /// Whether the link's transport is up.
    pub fn is_up(&self, link: LinkId) -> bool {
        self.links[link.0].up
    }

    /// Why the link's transport last failed, if it did.
    pub fn link_error(&self, link: LinkId) -> Option<&PeerError> {
        self.links[link.0].error.as_ref()
    }

    /// The peer ids of a link: on the connecting side, and on the binding side while up.
    pub fn link_peers(&self, link: LinkId) -> (PeerId, Option<PeerId>) {
        let link = &self.links[link.0];
        (link.connector.1, link.binder.1.filter(|_| link.up))
    }

    /// Moves octets and events until nothing moves any more.
    pub fn run(&mut self) {
        while self.step() {}
    }

    /// Advances virtual time by `by`, firing every timer on the way in order, and runs the
    /// network after each.
    pub fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            self.run();
            let next = self.sockets.iter().filter_map(Socket::next_timeout).min();
            match next {
                Some(deadline) if deadline <= until => {
                    self.now = self.now.max(deadline);
                    self.fire_timers();
                }
                _ => break,
            }
        }
        self.now = until;
        self.run();
    }

    fn fire_timers(&mut self) {
        for i in 0..self.links.len() {
            // Direct peers keep no time: no handshake, no heartbeats.
            if !self.links[i].up || matches!(self.links[i].transport, Transport::Inproc(_)) {
                continue;
            }
            let (c, cp) = self.links[i].connector;
            let (b, bp) = self.links[i].binder;
            if let Err(err) = self.sockets[c.0].handle_timeout(cp, self.now) {
                self.fail(LinkId(i), err, false);
            } else if let Some(bp) = bp
                && let Err(err) = self.sockets[b.0].handle_timeout(bp, self.now)
            {
                self.fail(LinkId(i), err, true);
            }
        }
    }

    /// One pass over every link in both directions; whether anything moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        for i in 0..self.links.len() {
            for towards_binder in [true, false] {
                moved |= self.transfer(LinkId(i), towards_binder);
            }
        }
        moved |= self.run_proxies();
        for (socket, monitor) in self.sockets.iter_mut().zip(&mut self.monitors) {
            // Wake-ups need no routing here: every pass visits every link anyway.
            while let Some(event) = socket.poll_event() {
                moved = true;
                if let SocketEvent::Monitor(event) = event {
                    monitor.push(event);
                }
            }
        }
        moved | self.authenticate()
    }

    /// Lets every proxy move what its sockets received; whether any did.
    fn run_proxies(&mut self) -> bool {
        let mut moved = false;
        for run in &mut self.proxies {
            let sockets = &mut self.sockets;
            moved |= match run.capture {
                Some(capture) => {
                    let [frontend, backend, capture] = sockets
                        .get_disjoint_mut([run.frontend.0, run.backend.0, capture.0])
                        .expect("distinct sockets, checked by add_proxy");
                    run.proxy.drive(frontend, backend, Some(capture))
                }
                None => {
                    let [frontend, backend] = sockets
                        .get_disjoint_mut([run.frontend.0, run.backend.0])
                        .expect("distinct sockets, checked by add_proxy");
                    run.proxy.drive(frontend, backend, None)
                }
            };
        }
        moved
    }

    /// Answers waiting clients with their socket's authenticator; whether any waited.
    fn authenticate(&mut self) -> bool {
        let mut any = false;
        for index in 0..self.sockets.len() {
            while let Some((peer, request)) = self.sockets[index].poll_auth_request() {
                any = true;
                let decision = match self.authenticators.get_mut(&index) {
                    Some(decide) => decide(&request),
                    None => AuthDecision::deny_with(
                        AuthStatus::InternalError,
                        "the socket asks for authentication but has no authenticator",
                    ),
                };
                if let Err(err) = self.sockets[index].authenticate(peer, decision, self.now) {
                    let link = self.links.iter().position(|link| {
                        link.binder == (SocketId(index), Some(peer))
                            || link.connector == (SocketId(index), peer)
                    });
                    if let Some(link) = link {
                        let binder = self.links[link].binder == (SocketId(index), Some(peer));
                        self.fail(LinkId(link), err, binder);
                    }
                }
            }
        }
        any
    }

    /// Moves what one side of a link has for the other; whether anything moved. A receiver
    /// that fails on what it got closes the link.
    fn transfer(&mut self, id: LinkId, towards_binder: bool) -> bool {
        let link = &mut self.links[id.0];
        let (Some(binder_peer), true) = (link.binder.1, link.up) else {
            return false;
        };
        let binder = (link.binder.0, binder_peer);
        let ends = if towards_binder {
            (link.connector, binder)
        } else {
            (binder, link.connector)
        };
        let (moved, failure) = match &mut link.transport {
            Transport::Zmtp(zmtp) => zmtp_link::transfer(
                &mut self.sockets,
                ends,
                zmtp.way(towards_binder),
                link.partitioned,
                self.limits,
                self.now,
            ),
            // A partitioned inproc link just stops moving.
            Transport::Inproc(_) if link.partitioned => return false,
            Transport::Inproc(inproc) => inproc_link::transfer(
                &mut self.sockets,
                ends,
                inproc.way(towards_binder),
                &mut self.outputs,
            ),
        };
        let Some(err) = failure else {
            return moved;
        };
        if matches!(link.transport, Transport::Zmtp(_)) {
            let (sender, receiver) = ends;
            zmtp_link::flush_after_failure(&mut self.sockets, receiver, sender, self.now);
        }
        // The receiving side is the one that failed.
        self.fail(id, err, towards_binder);
        true
    }

    /// One side (the binding one if `binder_failed`) failed with `err` and closes the
    /// transport: the other side sees its peer close it.
    fn fail(&mut self, id: LinkId, err: PeerError, binder_failed: bool) {
        let failed = DisconnectReason::from(err.clone());
        let other = DisconnectReason::PeerClosed;
        if binder_failed {
            self.close_link(id, other, failed);
        } else {
            self.close_link(id, failed, other);
        }
        self.links[id.0].error = Some(err);
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Network")
            .field("sockets", &self.sockets)
            .field("links", &self.links)
            .field("proxies", &self.proxies)
            .field("now", &self.now)
            .field(
                "authenticators",
                &self.authenticators.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
