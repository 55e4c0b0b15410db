//! A socket's lifecycle as events (libzmq's `zmq_socket_monitor`): endpoints listening and
//! failing, connections made, retried, handshaken and dropped, each with its reason.
//!
//! The sans-IO layers produce the events they can see: [`SocketCore`](super::SocketCore)
//! reports handshakes and disconnections (with the typed reason); the adapter reports what
//! only the transport sees (listening, accepted, connect delayed, retried or failed,
//! closed) through [`SocketCore::monitor`](super::SocketCore::monitor), so that all of a
//! socket's events come out of one ordered queue as [`SocketEvent::Monitor`](super::SocketEvent::Monitor).
//! [`MonitorQueue`] is the bounded buffer a reader drains them from: it never refuses an
//! event (the socket never waits for its monitor) and never reorders; when the reader lags,
//! newer events are dropped and counted, and a [`MonitorEvent::Missed`] stands where they
//! were.

use std::collections::VecDeque;
use std::fmt;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use super::{AttachError, LimitError, PeerError, PeerId};
use crate::proto::mechanism::MechanismError;
use crate::proto::{ConnectionError, PeerInfo};

/// Default number of events a [`MonitorQueue`] holds for a reader that lags.
pub const DEFAULT_MONITOR_CAPACITY: usize = 1024;

/// A transport error as a monitor reports it: the kind, and the system's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What kind of error it was.
    pub kind: ErrorKind,
    /// The system's description.
    pub message: Arc<str>,
}

impl From<&std::io::Error> for TransportError {
    fn from(err: &std::io::Error) -> Self {
        Self {
            kind: err.kind(),
            message: err.to_string().into(),
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a connection ended (or its handshake failed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The peer closed the transport.
    PeerClosed,
    /// This side closed it: disconnect, unbind, close, or the adapter dropping it.
    Local,
    /// The transport failed.
    Transport(TransportError),
    /// The peer broke the protocol, failed the handshake (authentication denied,
    /// incompatible socket type, a mechanism mismatch …) or timed out.
    Protocol(ConnectionError),
    /// The pattern did not accept the peer (a second PAIR peer, a duplicate ROUTER
    /// identity).
    Refused(AttachError),
    /// The peer broke a pattern limit (its subscriptions took too much memory).
    Limit(LimitError),
}

impl From<PeerError> for DisconnectReason {
    fn from(err: PeerError) -> Self {
        match err {
            PeerError::Protocol(err) => Self::Protocol(err),
            PeerError::Refused(err) => Self::Refused(err),
            PeerError::Limit(err) => Self::Limit(err),
            PeerError::NotConnected => Self::Local,
        }
    }
}

impl From<&std::io::Error> for DisconnectReason {
    fn from(err: &std::io::Error) -> Self {
        Self::Transport(err.into())
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("the peer closed the connection"),
            Self::Local => f.write_str("closed locally"),
            Self::Transport(err) => write!(f, "transport error: {err}"),
            Self::Protocol(err) => write!(f, "{err}"),
            Self::Refused(err) => write!(f, "{err}"),
            Self::Limit(err) => write!(f, "{err}"),
        }
    }
}

/// One step in a socket's life. `endpoint` is the endpoint as bound or as given to
/// connect; `peer` the peer it concerns (a connected endpoint keeps its peer across
/// reconnects; every accepted connection is a new peer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A bound endpoint accepts connections (`ZMQ_EVENT_LISTENING`).
    Listening {
        /// The endpoint as bound.
        endpoint: Arc<str>,
    },
    /// Binding failed (`ZMQ_EVENT_BIND_FAILED`).
    BindFailed {
        /// The endpoint asked for.
        endpoint: Arc<str>,
        /// Why.
        error: TransportError,
    },
    /// A connection was accepted on a bound endpoint (`ZMQ_EVENT_ACCEPTED`).
    Accepted {
        /// The bound endpoint.
        endpoint: Arc<str>,
        /// The new peer.
        peer: PeerId,
        /// Where it comes from (empty when the transport cannot say).
        remote: Arc<str>,
    },
    /// Accepting a connection failed, or its transport-level handshake (TLS) did
    /// (`ZMQ_EVENT_ACCEPT_FAILED`).
    AcceptFailed {
        /// The bound endpoint.
        endpoint: Arc<str>,
        /// Why.
        error: TransportError,
    },
    /// A connection attempt is under way (`ZMQ_EVENT_CONNECT_DELAYED`).
    ConnectDelayed {
        /// The endpoint connected to.
        endpoint: Arc<str>,
        /// Its peer.
        peer: PeerId,
    },
    /// A connection attempt failed; libzmq reports it as `ZMQ_EVENT_CLOSED`.
    ConnectFailed {
        /// The endpoint connected to.
        endpoint: Arc<str>,
        /// Its peer.
        peer: PeerId,
        /// Why.
        error: TransportError,
    },
    /// The next attempt comes after `delay` (`ZMQ_EVENT_CONNECT_RETRIED`).
    ConnectRetried {
        /// The endpoint connected to.
        endpoint: Arc<str>,
        /// Its peer.
        peer: PeerId,
        /// How long until the next attempt.
        delay: Duration,
    },
    /// The transport to a connected endpoint is up; the handshake begins
    /// (`ZMQ_EVENT_CONNECTED`).
    Connected {
        /// The endpoint connected to.
        endpoint: Arc<str>,
        /// Its peer.
        peer: PeerId,
        /// The address actually reached (empty when the transport cannot say).
        remote: Arc<str>,
    },
    /// The ZMTP handshake completed (`ZMQ_EVENT_HANDSHAKE_SUCCEEDED`).
    HandshakeSucceeded {
        /// The endpoint the connection belongs to.
        endpoint: Arc<str>,
        /// The peer.
        peer: PeerId,
        /// What the peer announced (socket type, routing id, metadata) and, with
        /// security, who it was authenticated as.
        info: Arc<PeerInfo>,
    },
    /// The connection ended before its handshake completed; a
    /// [`MonitorEvent::Disconnected`] follows (`ZMQ_EVENT_HANDSHAKE_FAILED_*`, see
    /// [`MonitorEvent::libzmq_event`]).
    HandshakeFailed {
        /// The endpoint the connection belongs to.
        endpoint: Arc<str>,
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DisconnectReason,
    },
    /// A connection ended (`ZMQ_EVENT_DISCONNECTED`).
    Disconnected {
        /// The endpoint the connection belongs to.
        endpoint: Arc<str>,
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: DisconnectReason,
    },
    /// A bound endpoint stopped listening (unbind or close; `ZMQ_EVENT_CLOSED`).
    Closed {
        /// The endpoint as bound.
        endpoint: Arc<str>,
    },
    /// The reader lagged and this many events were dropped here.
    Missed {
        /// How many.
        count: u64,
    },
}

/// libzmq's event numbers (`zmq.h`), for comparing with a libzmq monitor.
pub mod libzmq {
    /// `ZMQ_EVENT_CONNECTED`.
    pub const CONNECTED: u16 = 0x0001;
    /// `ZMQ_EVENT_CONNECT_DELAYED`.
    pub const CONNECT_DELAYED: u16 = 0x0002;
    /// `ZMQ_EVENT_CONNECT_RETRIED`.
    pub const CONNECT_RETRIED: u16 = 0x0004;
    /// `ZMQ_EVENT_LISTENING`.
    pub const LISTENING: u16 = 0x0008;
    /// `ZMQ_EVENT_BIND_FAILED`.
    pub const BIND_FAILED: u16 = 0x0010;
    /// `ZMQ_EVENT_ACCEPTED`.
    pub const ACCEPTED: u16 = 0x0020;
    /// `ZMQ_EVENT_ACCEPT_FAILED`.
    pub const ACCEPT_FAILED: u16 = 0x0040;
    /// `ZMQ_EVENT_CLOSED`.
    pub const CLOSED: u16 = 0x0080;
    /// `ZMQ_EVENT_DISCONNECTED`.
    pub const DISCONNECTED: u16 = 0x0200;
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`.
    pub const HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`.
    pub const HANDSHAKE_SUCCEEDED: u16 = 0x1000;
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`.
    pub const HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`.
    pub const HANDSHAKE_FAILED_AUTH: u16 = 0x4000;
}

impl MonitorEvent {
    /// The endpoint the event concerns (none for [`MonitorEvent::Missed`]).
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Self::Listening { endpoint }
            | Self::BindFailed { endpoint, .. }
            | Self::Accepted { endpoint, .. }
            | Self::AcceptFailed { endpoint, .. }
            | Self::ConnectDelayed { endpoint, .. }
            | Self::ConnectFailed { endpoint, .. }
            | Self::ConnectRetried { endpoint, .. }
            | Self::Connected { endpoint, .. }
            | Self::HandshakeSucceeded { endpoint, .. }
            | Self::HandshakeFailed { endpoint, .. }
            | Self::Disconnected { endpoint, .. }
            | Self::Closed { endpoint } => Some(endpoint),
            Self::Missed { .. } => None,
        }
    }

    /// The peer the event concerns, if any.
    pub fn peer(&self) -> Option<PeerId> {
        match self {
            Self::Accepted { peer, .. }
            | Self::ConnectDelayed { peer, .. }
            | Self::ConnectFailed { peer, .. }
            | Self::ConnectRetried { peer, .. }
            | Self::Connected { peer, .. }
            | Self::HandshakeSucceeded { peer, .. }
            | Self::HandshakeFailed { peer, .. }
            | Self::Disconnected { peer, .. } => Some(*peer),
            _ => None,
        }
    }

    /// The number libzmq's monitor would report for this event (see [`libzmq`]); 0 for
    /// [`MonitorEvent::Missed`], which libzmq has no number for. A handshake that failed
    /// on authentication (the authenticator denied the client, on either side) is
    /// `HANDSHAKE_FAILED_AUTH`, on the protocol or the pattern's
    /// refusal `HANDSHAKE_FAILED_PROTOCOL`, and on the transport `HANDSHAKE_FAILED_NO_DETAIL`.
    pub fn libzmq_event(&self) -> u16 {
        match self {
            Self::Listening { .. } => libzmq::LISTENING,
            Self::BindFailed { .. } => libzmq::BIND_FAILED,
            Self::Accepted { .. } => libzmq::ACCEPTED,
            Self::AcceptFailed { .. } => libzmq::ACCEPT_FAILED,
            Self::ConnectDelayed { .. } => libzmq::CONNECT_DELAYED,
            Self::ConnectFailed { .. } | Self::Closed { .. } => libzmq::CLOSED,
            Self::ConnectRetried { .. } => libzmq::CONNECT_RETRIED,
            Self::Connected { .. } => libzmq::CONNECTED,
            Self::HandshakeSucceeded { .. } => libzmq::HANDSHAKE_SUCCEEDED,
            Self::HandshakeFailed { reason, .. } => match reason {
                DisconnectReason::Protocol(
                    ConnectionError::AuthenticationFailed { .. }
                    | ConnectionError::Mechanism(MechanismError::Denied { .. }),
                ) => libzmq::HANDSHAKE_FAILED_AUTH,
                DisconnectReason::Protocol(ConnectionError::HandshakeTimeout(_)) => {
                    libzmq::HANDSHAKE_FAILED_NO_DETAIL
                }
                DisconnectReason::Protocol(_)
                | DisconnectReason::Refused(_)
                | DisconnectReason::Limit(_) => libzmq::HANDSHAKE_FAILED_PROTOCOL,
                _ => libzmq::HANDSHAKE_FAILED_NO_DETAIL,
            },
            Self::Disconnected { .. } => libzmq::DISCONNECTED,
            Self::Missed { .. } => 0,
        }
    }
}

impl fmt::Display for MonitorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Listening { endpoint } => write!(f, "{endpoint}: listening"),
            Self::BindFailed { endpoint, error } => write!(f, "{endpoint}: bind failed: {error}"),
            Self::Accepted {
                endpoint,
                peer,
                remote,
            } => write!(f, "{endpoint}: accepted {peer} from {remote}"),
            Self::AcceptFailed { endpoint, error } => {
                write!(f, "{endpoint}: accept failed: {error}")
            }
            Self::ConnectDelayed { endpoint, peer } => write!(f, "{endpoint}: {peer} connecting"),
            Self::ConnectFailed {
                endpoint,
                peer,
                error,
            } => write!(f, "{endpoint}: {peer} connect failed: {error}"),
            Self::ConnectRetried {
                endpoint,
                peer,
                delay,
            } => write!(f, "{endpoint}: {peer} retrying in {delay:?}"),
            Self::Connected {
                endpoint,
                peer,
                remote,
            } => write!(f, "{endpoint}: {peer} connected to {remote}"),
            Self::HandshakeSucceeded {
                endpoint,
                peer,
                info,
            } => write!(
                f,
                "{endpoint}: {peer} handshake with a {} peer succeeded",
                info.socket_type
            ),
            Self::HandshakeFailed {
                endpoint,
                peer,
                reason,
            } => write!(f, "{endpoint}: {peer} handshake failed: {reason}"),
            Self::Disconnected {
                endpoint,
                peer,
                reason,
            } => write!(f, "{endpoint}: {peer} disconnected: {reason}"),
            Self::Closed { endpoint } => write!(f, "{endpoint}: closed"),
            Self::Missed { count } => write!(f, "{count} events missed"),
        }
    }
}

/// A bounded, lossy, order-keeping buffer of [`MonitorEvent`]s between a socket and a
/// reader that may lag.
///
/// [`MonitorQueue::push`] never fails: at capacity the event is dropped and counted.
/// The next event that fits is preceded by one [`MonitorEvent::Missed`] with the count,
/// so a reader sees where the gap was and how wide; events that do come out keep their
/// order, so a peer's connect is never read after its disconnect.
#[derive(Debug, Clone)]
pub struct MonitorQueue {
    events: VecDeque<MonitorEvent>,
    capacity: usize,
    /// Dropped since the last `Missed` marker was queued.
    missed: u64,
    missed_total: u64,
}

impl MonitorQueue {
    /// A queue that holds at most `capacity` events (at least 2: an event and a marker).
    pub fn new(capacity: usize) -> Self {
        Self {
            events: VecDeque::new(),
            capacity: capacity.max(2),
            missed: 0,
            missed_total: 0,
        }
    }

    /// Queues an event, or counts it as missed when the queue is full; whether it was
    /// queued.
    pub fn push(&mut self, event: MonitorEvent) -> bool {
        // A pending gap needs a slot for its marker in front of the event.
        let needed = if self.missed > 0 { 2 } else { 1 };
        if self.events.len() + needed > self.capacity {
            self.missed += 1;
            self.missed_total += 1;
            return false;
        }
        if self.missed > 0 {
            self.events
                .push_back(MonitorEvent::Missed { count: self.missed });
            self.missed = 0;
        }
        self.events.push_back(event);
        true
    }

    /// The next event; a trailing gap comes out as [`MonitorEvent::Missed`] once the
    /// queue is empty.
    pub fn pop(&mut self) -> Option<MonitorEvent> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        if self.missed > 0 {
            let count = std::mem::take(&mut self.missed);
            return Some(MonitorEvent::Missed { count });
        }
        None
    }

    /// Whether [`MonitorQueue::pop`] would return nothing.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.missed == 0
    }

    /// Events dropped since the queue was made.
    pub fn missed_total(&self) -> u64 {
        self.missed_total
    }
}

impl Default for MonitorQueue {
    fn default() -> Self {
        Self::new(DEFAULT_MONITOR_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening(n: usize) -> MonitorEvent {
        MonitorEvent::Listening {
            endpoint: format!("tcp://127.0.0.1:{n}").into(),
        }
    }

    #[test]
    fn a_full_queue_counts_what_it_drops_and_marks_the_gap() {
        let mut queue = MonitorQueue::new(3);
        for n in 0..6 {
            queue.push(listening(n));
        }
        assert_eq!(queue.missed_total(), 3);
        assert_eq!(queue.pop(), Some(listening(0)));
        assert_eq!(queue.pop(), Some(listening(1)));
        assert!(
            queue.push(listening(6)),
            "room for the marker and the event"
        );
        assert!(!queue.push(listening(7)), "full again");
        assert_eq!(queue.pop(), Some(listening(2)));
        assert_eq!(queue.pop(), Some(MonitorEvent::Missed { count: 3 }));
        assert_eq!(queue.pop(), Some(listening(6)));
        assert_eq!(queue.pop(), Some(MonitorEvent::Missed { count: 1 }));
        assert_eq!(queue.pop(), None);
        assert_eq!(queue.missed_total(), 4);
        assert!(queue.is_empty());
    }
}
