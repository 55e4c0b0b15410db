//! The simulated network between the world's hosts: `tcp://host:port` listeners and
//! connections whose octets arrive after the link's latency (and jitter, and the time the
//! link's bandwidth takes to carry them), in order, unless the link is partitioned (they
//! wait) or the connection is reset (both ends fail). `ipc://path` endpoints are reachable
//! from their own host only.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};

use super::clock::{Clock, VirtualTimer, sleep_until};
use super::rng::Rng;
use super::trace::{Trace, TraceEvent};
use super::{HostId, LinkConfig};
use crate::endpoint::{Endpoint, Host};
use crate::io::{ConnectFuture, VirtualConnection, VirtualListener, VirtualNetwork};

/// First port handed out for `tcp://host:*`.
const FIRST_EPHEMERAL_PORT: u16 = 49152;

/// Octets a connection holds in each direction before its writer must wait (a stand-in
/// for the kernel's socket buffers).
pub(crate) const CONNECTION_CAPACITY: usize = 256 * 1024;

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Address {
    Port(u16),
    Path(String),
}

#[derive(Debug, Default)]
struct Listening {
    accepted: VecDeque<VirtualConnection>,
    waker: Option<Waker>,
}

/// One direction of a connection: octets written, each chunk with the time it arrives.
#[derive(Debug, Default)]
struct Pipe {
    chunks: VecDeque<(Duration, Bytes)>,
    queued: usize,
    /// When the link finishes sending what was written so far (bandwidth).
    busy_until: Duration,
    /// When the last chunk arrives: later chunks never overtake it.
    last_arrival: Duration,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// The writer closed or dropped its end.
    closed: bool,
}

#[derive(Debug)]
struct Connection {
    /// The host of each end; end 0 connected, end 1 accepted.
    hosts: [HostId; 2],
    /// `pipes[i]` carries what end `i` writes.
    pipes: [Pipe; 2],
    /// Which ends were dropped.
    dropped: [bool; 2],
    reset: bool,
}

impl Connection {
    fn wake_all(&mut self) -> Vec<Waker> {
        (self.pipes.iter_mut())
            .flat_map(|p| [p.reader.take(), p.writer.take()])
            .flatten()
            .collect()
    }
}

#[derive(Debug, Default)]
struct State {
    names: BTreeMap<String, HostId>,
    listeners: BTreeMap<(HostId, Address), Listening>,
    next_port: BTreeMap<HostId, u16>,
    connections: BTreeMap<u64, Connection>,
    next_connection: u64,
    /// Host pairs (lower id first) that cannot reach each other.
    partitions: BTreeSet<(HostId, HostId)>,
    /// Link settings per host pair (lower id first); the default otherwise.
    links: BTreeMap<(HostId, HostId), LinkConfig>,
    default_link: LinkConfig,
}

fn pair(a: HostId, b: HostId) -> (HostId, HostId) {
    if a <= b { (a, b) } else { (b, a) }
}

impl State {
    fn link(&self, a: HostId, b: HostId) -> LinkConfig {
        self.links
            .get(&pair(a, b))
            .copied()
            .unwrap_or(self.default_link)
    }

    fn partitioned(&self, a: HostId, b: HostId) -> bool {
        a != b && self.partitions.contains(&pair(a, b))
    }
}

/// The network every host of a world shares.
#[derive(Debug)]
pub(crate) struct Net {
    state: Mutex<State>,
    clock: Arc<Clock>,
    rng: Arc<Mutex<Rng>>,
    trace: Arc<Trace>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Net {
    pub(crate) fn new(clock: Arc<Clock>, rng: Arc<Mutex<Rng>>, trace: Arc<Trace>) -> Self {
        Self {
            state: Mutex::default(),
            clock,
            rng,
            trace,
        }
    }

    pub(crate) fn add_host(&self, name: &str, host: HostId) {
        lock(&self.state).names.insert(name.to_owned(), host);
    }

    pub(crate) fn set_default_link(&self, link: LinkConfig) {
        lock(&self.state).default_link = link;
    }

    pub(crate) fn set_link(&self, a: HostId, b: HostId, link: LinkConfig) {
        lock(&self.state).links.insert(pair(a, b), link);
    }

    /// Cuts (or restores) every path between `a` and `b`: octets in flight wait, new
    /// connections hang.
    pub(crate) fn partition(&self, a: HostId, b: HostId, cut: bool) {
        let wakers = {
            let mut state = lock(&self.state);
            if cut {
                state.partitions.insert(pair(a, b));
                Vec::new()
            } else {
                state.partitions.remove(&pair(a, b));
                (state.connections.values_mut())
                    .filter(|c| pair(c.hosts[0], c.hosts[1]) == pair(a, b))
                    .flat_map(Connection::wake_all)
                    .collect()
            }
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Resets every connection that `host` has (with `other` only, if given): both ends
    /// fail on their next read or write, as after a TCP RST.
    pub(crate) fn reset(&self, host: HostId, other: Option<HostId>) {
        let now = self.clock.elapsed();
        let (wakers, reset) = {
            let mut state = lock(&self.state);
            let mut wakers = Vec::new();
            let mut reset = Vec::new();
            for (id, connection) in &mut state.connections {
                let ends = connection.hosts;
                let concerned = ends.contains(&host)
                    && other.is_none_or(|o| ends.contains(&o) && (o != host || ends[0] == ends[1]));
                if concerned && !connection.reset {
                    connection.reset = true;
                    reset.push(*id);
                    wakers.extend(connection.wake_all());
                }
            }
            (wakers, reset)
        };
        for id in reset {
            self.trace.record(now, TraceEvent::Reset { connection: id });
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// A crashed host's listeners go (connections waiting to be accepted are reset).
    pub(crate) fn crash(&self, host: HostId) {
        let wakers = {
            let mut state = lock(&self.state);
            let gone: Vec<_> = (state.listeners.keys())
                .filter(|(h, _)| *h == host)
                .cloned()
                .collect();
            let mut wakers = Vec::new();
            for key in gone {
                if let Some(listening) = state.listeners.remove(&key) {
                    wakers.extend(listening.waker);
                }
            }
            wakers
        };
        wakers.into_iter().for_each(Waker::wake);
        self.reset(host, None);
    }

    fn resolve(&self, from: HostId, endpoint: &Endpoint) -> io::Result<(HostId, Address)> {
        let state = lock(&self.state);
        match endpoint {
            Endpoint::Tcp { host, port } => {
                let target = match host {
                    Host::Name(name) => state.names.get(name).copied().ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("no host named {name} in the simulated world"),
                        )
                    })?,
                    Host::Any => from,
                    Host::Ip(ip) if ip.is_loopback() => from,
                    Host::Ip(ip) => {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{ip}: simulated hosts are reached by name"),
                        ));
                    }
                };
                Ok((target, Address::Port(port.unwrap_or(0))))
            }
            Endpoint::Ipc(path) => Ok((from, Address::Path(path.display().to_string()))),
            other => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{other}: not a simulated endpoint"),
            )),
        }
    }

    fn host_name(state: &State, host: HostId) -> String {
        (state.names.iter())
            .find(|(_, id)| **id == host)
            .map_or_else(|| format!("host{}", host.0), |(name, _)| name.clone())
    }

    /// Binds on `host`.
    fn bind(
        self: &Arc<Self>,
        host: HostId,
        endpoint: &Endpoint,
    ) -> io::Result<(Listener, Endpoint)> {
        let (target, address) = self.resolve(host, endpoint)?;
        if target != host {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{endpoint}: a host binds its own addresses only"),
            ));
        }
        let mut state = lock(&self.state);
        let address = match address {
            Address::Port(0) => {
                let next = state.next_port.entry(host).or_insert(FIRST_EPHEMERAL_PORT);
                let port = *next;
                *next = next.checked_add(1).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::AddrNotAvailable, "no ephemeral port left")
                })?;
                Address::Port(port)
            }
            other => other,
        };
        if state.listeners.contains_key(&(host, address.clone())) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{endpoint}: address in use"),
            ));
        }
        state
            .listeners
            .insert((host, address.clone()), Listening::default());
        let bound = match &address {
            Address::Port(port) => Endpoint::Tcp {
                host: Host::Name(Self::host_name(&state, host)),
                port: Some(*port),
            },
            Address::Path(path) => Endpoint::Ipc(path.into()),
        };
        Ok((
            Listener {
                net: Arc::clone(self),
                key: (host, address),
            },
            bound,
        ))
    }

    /// Connects from `host`: after the link's latency, to the listener there, if any.
    fn connect(self: &Arc<Self>, host: HostId, endpoint: &Endpoint) -> ConnectFuture {
        let net = Arc::clone(self);
        let endpoint = endpoint.clone();
        Box::pin(async move {
            let (target, address) = net.resolve(host, &endpoint)?;
            let (latency, partitioned) = {
                let state = lock(&net.state);
                (
                    state.link(host, target).latency,
                    state.partitioned(host, target),
                )
            };
            if partitioned {
                // The SYN is lost: the attempt hangs until the caller's timeout.
                std::future::pending::<()>().await;
            }
            sleep_until(Arc::clone(&net.clock), net.clock.now() + latency).await;
            net.open(host, target, address, &endpoint)
        })
    }

    fn open(
        self: &Arc<Self>,
        from: HostId,
        to: HostId,
        address: Address,
        endpoint: &Endpoint,
    ) -> io::Result<VirtualConnection> {
        let now = self.clock.elapsed();
        let (ours, id, waker) = {
            let mut state = lock(&self.state);
            if state.partitioned(from, to) || !state.listeners.contains_key(&(to, address.clone()))
            {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("{endpoint}: connection refused"),
                ));
            }
            state.next_connection += 1;
            let id = state.next_connection;
            state.connections.insert(
                id,
                Connection {
                    hosts: [from, to],
                    pipes: Default::default(),
                    dropped: [false; 2],
                    reset: false,
                },
            );
            let from_name = Self::host_name(&state, from);
            let local = format!("tcp://{from_name}:{}", 30000 + id % 30000);
            let theirs = VirtualConnection {
                stream: Box::new(Stream::new(Arc::clone(self), id, 1)),
                remote: local,
                address: from_name,
            };
            let listening = state
                .listeners
                .get_mut(&(to, address))
                .expect("checked above");
            listening.accepted.push_back(theirs);
            let waker = listening.waker.take();
            let ours = VirtualConnection {
                stream: Box::new(Stream::new(Arc::clone(self), id, 0)),
                remote: endpoint.to_string(),
                address: Self::host_name(&state, to),
            };
            (ours, id, waker)
        };
        self.trace.record(
            now,
            TraceEvent::Connected {
                connection: id,
                from,
                to,
            },
        );
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(ours)
    }
}

/// A host's view of the network: what its sockets' runtime hands them.
#[derive(Debug)]
pub(crate) struct HostNet {
    pub(crate) net: Arc<Net>,
    pub(crate) host: HostId,
}

impl VirtualNetwork for HostNet {
    fn bind(&self, endpoint: &Endpoint) -> io::Result<(Box<dyn VirtualListener>, Endpoint)> {
        let (listener, bound) = self.net.bind(self.host, endpoint)?;
        Ok((Box::new(listener), bound))
    }

    fn connect(&self, endpoint: &Endpoint) -> ConnectFuture {
        self.net.connect(self.host, endpoint)
    }
}

/// A bound address of a simulated host; dropping it unbinds.
#[derive(Debug)]
struct Listener {
    net: Arc<Net>,
    key: (HostId, Address),
}

impl VirtualListener for Listener {
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<VirtualConnection>> {
        let mut state = lock(&self.net.state);
        let Some(listening) = state.listeners.get_mut(&self.key) else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the host crashed",
            )));
        };
        match listening.accepted.pop_front() {
            Some(connection) => Poll::Ready(Ok(connection)),
            None => {
                listening.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Connections made but never accepted are refused with it.
        let pending = lock(&self.net.state).listeners.remove(&self.key);
        drop(pending);
    }
}

/// One end of a simulated connection.
#[derive(Debug)]
struct Stream {
    net: Arc<Net>,
    connection: u64,
    /// 0: the connecting end, 1: the accepted one.
    end: usize,
    /// Waits for the next chunk's arrival.
    arrival: Option<VirtualTimer>,
}

impl Stream {
    fn new(net: Arc<Net>, connection: u64, end: usize) -> Self {
        Self {
            net,
            connection,
            end,
            arrival: None,
        }
    }

    fn reset_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset (simulated)",
        )
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let now = self.net.clock.elapsed();
        let (result, writer, wait_until) = {
            let mut state = lock(&self.net.state);
            let partitioned = {
                let Some(connection) = state.connections.get(&self.connection) else {
                    return Poll::Ready(Err(Self::reset_error()));
                };
                state.partitioned(connection.hosts[0], connection.hosts[1])
            };
            let connection = state
                .connections
                .get_mut(&self.connection)
                .expect("checked above");
            if connection.reset {
                return Poll::Ready(Err(Self::reset_error()));
            }
            let pipe = &mut connection.pipes[1 - self.end];
            if partitioned {
                pipe.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let mut read = 0;
            while read < buf.len() {
                let Some((arrival, chunk)) = pipe.chunks.front_mut() else {
                    break;
                };
                if *arrival > now {
                    break;
                }
                let n = chunk.len().min(buf.len() - read);
                buf[read..read + n].copy_from_slice(&chunk[..n]);
                let _ = chunk.split_to(n);
                if chunk.is_empty() {
                    pipe.chunks.pop_front();
                }
                read += n;
            }
            pipe.queued -= read;
            if read > 0 {
                (Poll::Ready(Ok(read)), pipe.writer.take(), None)
            } else if let Some((arrival, _)) = pipe.chunks.front() {
                (Poll::Pending, None, Some(*arrival))
            } else if pipe.closed {
                (Poll::Ready(Ok(0)), None, None)
            } else {
                pipe.reader = Some(cx.waker().clone());
                (Poll::Pending, None, None)
            }
        };
        if let Some(writer) = writer {
            writer.wake();
        }
        if let Some(at) = wait_until {
            let clock = Arc::clone(&self.net.clock);
            let at = self.net.clock.now() + (at - now);
            let timer = self.arrival.insert(VirtualTimer::new(clock, at));
            if timer.poll_at(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
        }
        if let Poll::Ready(Ok(n)) = result
            && n > 0
        {
            self.net.trace.record(
                now,
                TraceEvent::Delivered {
                    connection: self.connection,
                    to_end: self.end as u8,
                    octets: n,
                },
            );
        }
        result
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let now = self.net.clock.elapsed();
        let reader = {
            let mut state = lock(&self.net.state);
            let Some(connection) = state.connections.get(&self.connection) else {
                return Poll::Ready(Err(Self::reset_error()));
            };
            let link = state.link(connection.hosts[0], connection.hosts[1]);
            let jitter = if link.jitter.is_zero() {
                Duration::ZERO
            } else {
                let nanos = link.jitter.as_nanos().min(u128::from(u64::MAX)) as u64;
                Duration::from_nanos(lock(&self.net.rng).below(nanos + 1))
            };
            let connection = state
                .connections
                .get_mut(&self.connection)
                .expect("checked above");
            if connection.reset {
                return Poll::Ready(Err(Self::reset_error()));
            }
            if connection.dropped[1 - self.end] {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the other end is gone",
                )));
            }
            let pipe = &mut connection.pipes[self.end];
            if pipe.closed {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "this end was closed",
                )));
            }
            let room = CONNECTION_CAPACITY.saturating_sub(pipe.queued);
            if room == 0 {
                pipe.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = room.min(buf.len());
            let sending = match link.bandwidth {
                Some(bytes_per_second) if bytes_per_second > 0 => Duration::from_nanos(
                    (n as u128 * 1_000_000_000 / u128::from(bytes_per_second))
                        .min(u128::from(u64::MAX)) as u64,
                ),
                _ => Duration::ZERO,
            };
            pipe.busy_until = pipe.busy_until.max(now) + sending;
            let arrival = (pipe.busy_until + link.latency + jitter).max(pipe.last_arrival);
            pipe.last_arrival = arrival;
            if n == 0 {
                return Poll::Ready(Ok(0));
            }
            pipe.chunks
                .push_back((arrival, Bytes::copy_from_slice(&buf[..n])));
            pipe.queued += n;
            (pipe.reader.take(), n)
        };
        let (reader, n) = reader;
        if let Some(reader) = reader {
            reader.wake();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shut();
        Poll::Ready(Ok(()))
    }
}

impl Stream {
    /// This end writes no more: the other end reads what is in flight, then the end.
    fn shut(&self) {
        let now = self.net.clock.elapsed();
        let (wakers, gone) = {
            let mut state = lock(&self.net.state);
            let Some(connection) = state.connections.get_mut(&self.connection) else {
                return;
            };
            connection.pipes[self.end].closed = true;
            let wakers = connection.wake_all();
            let gone = connection.pipes.iter().all(|p| p.closed);
            (wakers, gone)
        };
        if gone {
            self.net.trace.record(
                now,
                TraceEvent::Closed {
                    connection: self.connection,
                },
            );
        }
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shut();
        let mut state = lock(&self.net.state);
        let both_gone = state
            .connections
            .get_mut(&self.connection)
            .is_some_and(|c| {
                c.dropped[self.end] = true;
                c.dropped.iter().all(|d| *d)
            });
        if both_gone {
            // Nobody is left to read what is in flight: forget the connection.
            state.connections.remove(&self.connection);
        }
    }
}
