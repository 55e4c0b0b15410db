//! Socket types and which of them may talk to each other (RFC 37 "The Socket-Type Property",
//! as enforced by libzmq's `mechanism_t::check_socket_type`).

use std::fmt;

/// The ZeroMQ socket types this crate implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SocketType {
    /// Exclusive pair (RFC 31).
    Pair,
    /// Publisher (RFC 29).
    Pub,
    /// Subscriber (RFC 29).
    Sub,
    /// Requester (RFC 28): strict lockstep, one request then its reply.
    ///
    /// If the replier dies after taking a request, the reply never comes and `recv` waits
    /// forever, as in libzmq: the request is not resent over the new connection. Escape
    /// with a receive timeout (`io::Socket::recv_timeout`), with `req_relaxed` (a new
    /// request may be sent, abandoning the old one) plus `req_correlate` (a late reply to
    /// the abandoned request is discarded), or use `easy::RRClient`, which does all three.
    Req,
    /// Replier (RFC 28).
    Rep,
    /// Asynchronous requester (RFC 28).
    Dealer,
    /// Asynchronous replier with addressing (RFC 28).
    Router,
    /// Pipeline sink (RFC 30).
    Pull,
    /// Pipeline source (RFC 30).
    Push,
    /// Publisher that sees subscriptions (RFC 29).
    XPub,
    /// Subscriber that sends subscriptions as messages (RFC 29).
    XSub,
}

impl SocketType {
    /// Every socket type, for exhaustive tests.
    pub const ALL: [SocketType; 11] = [
        Self::Pair,
        Self::Pub,
        Self::Sub,
        Self::Req,
        Self::Rep,
        Self::Dealer,
        Self::Router,
        Self::Pull,
        Self::Push,
        Self::XPub,
        Self::XSub,
    ];

    /// The name used in the `Socket-Type` property.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "PAIR",
            Self::Pub => "PUB",
            Self::Sub => "SUB",
            Self::Req => "REQ",
            Self::Rep => "REP",
            Self::Dealer => "DEALER",
            Self::Router => "ROUTER",
            Self::Pull => "PULL",
            Self::Push => "PUSH",
            Self::XPub => "XPUB",
            Self::XSub => "XSUB",
        }
    }

    /// Parses a `Socket-Type` value (exact, upper-case, as libzmq compares it).
    pub fn from_bytes(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes() == name)
    }

    /// Whether a socket of this type accepts a peer of type `peer`.
    pub fn is_compatible_with(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Push, Pull)
                | (Pull, Push)
                | (Pair, Pair)
        )
    }

    /// Whether peers announce an `Identity` property to a socket of this type. libzmq sends
    /// one from REQ, DEALER and ROUTER only, because only a ROUTER peer uses it.
    pub fn announces_identity(self) -> bool {
        matches!(self, Self::Req | Self::Dealer | Self::Router)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SocketType::*;

    #[test]
    fn names_round_trip() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_bytes(t.as_str().as_bytes()), Some(t));
        }
        assert_eq!(SocketType::from_bytes(b"dealer"), None);
        assert_eq!(SocketType::from_bytes(b"CLIENT"), None);
    }

    #[test]
    fn matrix_matches_rfc_37() {
        let legal: &[(SocketType, &[SocketType])] = &[
            (Req, &[Rep, Router]),
            (Rep, &[Req, Dealer]),
            (Dealer, &[Rep, Dealer, Router]),
            (Router, &[Req, Dealer, Router]),
            (Pub, &[Sub, XSub]),
            (XPub, &[Sub, XSub]),
            (Sub, &[Pub, XPub]),
            (XSub, &[Pub, XPub]),
            (Push, &[Pull]),
            (Pull, &[Push]),
            (Pair, &[Pair]),
        ];
        for &(ours, peers) in legal {
            for theirs in SocketType::ALL {
                assert_eq!(
                    ours.is_compatible_with(theirs),
                    peers.contains(&theirs),
                    "{ours} with {theirs}"
                );
            }
        }
    }

    #[test]
    fn matrix_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible_with(b), b.is_compatible_with(a), "{a}/{b}");
            }
        }
    }
}
