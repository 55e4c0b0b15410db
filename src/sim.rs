//! Whole ZeroMQ topologies in memory: [`Network`] wires [`Socket`]s together with simulated
//! transports, under virtual time, deterministically. No threads, no sockets, no clock — a
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

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::pattern::monitor::TransportError;
use crate::pattern::{
    DisconnectReason, MonitorEvent, MonitorQueue, PeerError, PeerId, Socket, SocketEvent,
    SocketOptions,
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

/// One direction of a transport: octets written by one side, not yet read by the other.
#[derive(Debug, Default)]
struct Pipe {
    in_flight: VecDeque<Bytes>,
    octets: usize,
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
    to_binder: Pipe,
    to_connector: Pipe,
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
    capacity: usize,
    max_chunk: usize,
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
            capacity: DEFAULT_LINK_CAPACITY,
            max_chunk: usize::MAX,
        }
    }

    /// Cuts every delivery into pieces of at most `max_chunk` octets (to exercise decoders
    /// under arbitrary chunking).
    pub fn set_max_chunk(&mut self, max_chunk: usize) {
        self.max_chunk = max_chunk.max(1);
    }

    /// Sets how many octets each transport direction buffers.
    pub fn set_link_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
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
        let peer = self.sockets[connector.0]
            .add_peer()
            .expect("the connecting socket accepts another peer");
        self.sockets[connector.0].set_endpoint(peer, sim_endpoint(binder));
        self.links.push(Link {
            connector: (connector, peer),
            binder: (binder, None),
            up: false,
            partitioned: false,
            to_binder: Pipe::default(),
            to_connector: Pipe::default(),
            error: None,
        });
        let link = LinkId(self.links.len() - 1);
        self.reconnect(link);
        link
    }

    /// Closes the transport (as if the network dropped it: both sides see a connection
    /// reset); the connecting side keeps its peer's queue, the binding side forgets its
    /// peer.
    pub fn disconnect(&mut self, link: LinkId) {
        let reset = DisconnectReason::Transport(TransportError {
            kind: std::io::ErrorKind::ConnectionReset,
            message: "the simulated network dropped the connection".into(),
        });
        self.close_link(link, reset.clone(), reset);
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
        link.to_binder = Pipe::default();
        link.to_connector = Pipe::default();
        let (c, peer) = link.connector;
        self.sockets[c.0].close(peer, connector_reason);
        if let (b, Some(peer)) = link.binder {
            self.sockets[b.0].close(peer, binder_reason);
        }
    }

    /// Opens a fresh transport for a link whose transport is down.
    pub fn reconnect(&mut self, link: LinkId) {
        let now = self.now;
        let link = &mut self.links[link.0];
        if link.up {
            return;
        }
        let (c, peer) = link.connector;
        let (b, _) = link.binder;
        let socket = &mut self.sockets[c.0];
        let endpoint = sim_endpoint(b);
        socket.monitor(MonitorEvent::ConnectDelayed {
            endpoint: Arc::clone(&endpoint),
            peer,
        });
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
            if !self.links[i].up {
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

    fn transfer(&mut self, id: LinkId, towards_binder: bool) -> bool {
        let link = &self.links[id.0];
        let (Some(binder_peer), true) = (link.binder.1, link.up) else {
            return false;
        };
        let (from, to) = if towards_binder {
            (link.connector, (link.binder.0, binder_peer))
        } else {
            ((link.binder.0, binder_peer), link.connector)
        };
        let mut moved = false;
        let mut failure = None;
        // The sender writes while the transport has room.
        loop {
            let pipe = self.pipe(id, towards_binder);
            if pipe.octets >= self.capacity {
                break;
            }
            let Some(chunk) = self.sockets[from.0.0].poll_transmit(from.1) else {
                break;
            };
            let pipe = self.pipe(id, towards_binder);
            pipe.octets += chunk.len();
            pipe.in_flight.push_back(chunk);
            moved = true;
        }
        if self.links[id.0].partitioned {
            return moved;
        }
        // The receiver reads while it wants input; first it retries what it held back.
        let receiver = &mut self.sockets[to.0.0];
        if !receiver.wants_input(to.1)
            && receiver.is_open(to.1)
            && let Err(err) = receiver.handle_input(to.1, &[], self.now)
        {
            failure = Some(err);
        }
        while failure.is_none() && self.sockets[to.0.0].wants_input(to.1) {
            let max_chunk = self.max_chunk;
            let pipe = self.pipe(id, towards_binder);
            let Some(mut chunk) = pipe.in_flight.pop_front() else {
                break;
            };
            if chunk.len() > max_chunk {
                pipe.in_flight.push_front(chunk.split_off(max_chunk));
            }
            pipe.octets -= chunk.len();
            moved = true;
            if let Err(err) = self.sockets[to.0.0].handle_input(to.1, &chunk, self.now) {
                failure = Some(err);
            }
        }
        if let Some(err) = failure {
            self.flush_after_failure(id, towards_binder);
            // The receiving side is the one that failed.
            self.fail(id, err, towards_binder);
            moved = true;
        }
        moved
    }

    /// A side that failed may still have an ERROR command to say; it reaches the other
    /// side before the transport closes, as it would over TCP.
    fn flush_after_failure(&mut self, id: LinkId, towards_binder: bool) {
        let link = &self.links[id.0];
        let Some(binder_peer) = link.binder.1 else {
            return;
        };
        let (failed, other) = if towards_binder {
            ((link.binder.0, binder_peer), link.connector)
        } else {
            (link.connector, (link.binder.0, binder_peer))
        };
        while let Some(chunk) = self.sockets[failed.0.0].poll_transmit(failed.1) {
            if self.sockets[other.0.0]
                .handle_input(other.1, &chunk, self.now)
                .is_err()
            {
                break;
            }
        }
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

    fn pipe(&mut self, id: LinkId, towards_binder: bool) -> &mut Pipe {
        let link = &mut self.links[id.0];
        if towards_binder {
            &mut link.to_binder
        } else {
            &mut link.to_connector
        }
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
