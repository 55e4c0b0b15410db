//! What a [`Connection`](super::Connection) is configured with.

use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use super::connection::PeerInfo;
use super::greeting::{MechanismName, ZmtpVersion};
use super::metadata::{Metadata, MetadataError};
use super::socket_type::SocketType;
#[cfg(feature = "curve")]
use crate::security::Entropy;
use crate::security::Security;

/// Default limit on one incoming message (all frames together): 64 MiB. libzmq's default is
/// unlimited, which lets any peer make us buffer as much as it cares to send.
pub const DEFAULT_MAX_MSG_SIZE: u64 = 64 * 1024 * 1024;

/// Default time allowed from connection to completed handshake (libzmq: 30 s).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which side of the transport this connection is; it decides the NULL handshake's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We connected to the peer.
    Client,
    /// The peer connected to an endpoint we bound.
    Server,
}

/// ZMTP 3.1 heartbeats (libzmq's ZMQ_HEARTBEAT_IVL, _TTL and _TIMEOUT).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Send a PING this often once the handshake is done; `None` (or zero) disables
    /// heartbeats.
    pub interval: Option<Duration>,
    /// Time-to-live announced in our PINGs: the peer should close the connection if it hears
    /// nothing from us for this long (sent in tenths of a second, at most 6553.5 s).
    pub ttl: Option<Duration>,
    /// How long after a PING to wait for any traffic before declaring the peer dead;
    /// `None` means the interval, as in libzmq.
    pub timeout: Option<Duration>,
}

/// The settings of one connection. Build with [`Config::new`] and adjust the fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Our socket type, announced as `Socket-Type` and checked against the peer's.
    pub socket_type: SocketType,
    /// Extra metadata properties to announce (e.g. `X-` application properties).
    pub properties: Metadata,
    /// Largest incoming message, all frames together, before the peer is disconnected
    /// (libzmq's ZMQ_MAXMSGSIZE, which counts single frames). Every frame also counts 32
    /// octets of bookkeeping, so a flood of empty frames is bounded too.
    pub max_msg_size: u64,
    /// Time allowed for greeting and handshake; `None` waits forever.
    pub handshake_timeout: Option<Duration>,
    /// Heartbeat settings.
    pub heartbeat: HeartbeatConfig,
    /// The security mechanism and our side of it (NULL by default).
    pub security: Security,
    /// Server side: stop each handshake at an [`AuthRequest`](crate::security::AuthRequest)
    /// for the application to decide ([`Connection::poll_auth_request`],
    /// [`Connection::authenticate`]). Off, as libzmq without a ZAP handler: a CURVE server
    /// accepts every client that proves its keys, a PLAIN server refuses everyone (nobody
    /// checks the passwords), NULL accepts everyone.
    ///
    /// [`Connection::poll_auth_request`]: super::Connection::poll_auth_request
    /// [`Connection::authenticate`]: super::Connection::authenticate
    pub authenticate: bool,
    /// The ZAP domain passed to the authenticator (libzmq's ZMQ_ZAP_DOMAIN).
    pub zap_domain: Bytes,
    /// Where CURVE's keys and nonces draw randomness from: the operating system unless a
    /// test or simulation seeds it.
    #[cfg(feature = "curve")]
    pub entropy: Entropy,
    identity: Option<Bytes>,
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Identities are 1 to 255 octets and must not start with a zero octet (RFC 37
    /// reserves those for the implementation).
    #[error("invalid identity ({0}): identities are 1 to 255 octets and must not start with 0x00")]
    BadIdentity(String),
    /// Credentials that cannot be sent (a PLAIN user name or password over 255 octets).
    #[error("invalid credentials: {0}")]
    BadCredentials(String),
    /// A metadata property that cannot be announced.
    #[error("invalid property {name:?}: {reason}")]
    BadProperty {
        /// The property's name, as given.
        name: String,
        /// What is wrong with it.
        reason: MetadataError,
    },
}

impl Config {
    /// Defaults for a socket of the given type.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            socket_type,
            properties: Metadata::new(),
            max_msg_size: DEFAULT_MAX_MSG_SIZE,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            heartbeat: HeartbeatConfig::default(),
            security: Security::Null,
            authenticate: false,
            zap_domain: Bytes::new(),
            #[cfg(feature = "curve")]
            entropy: Entropy::default(),
            identity: None,
        }
    }

    /// Sets the routing identity we announce (libzmq's ZMQ_ROUTING_ID); only REQ, DEALER
    /// and ROUTER announce one.
    pub fn set_identity(&mut self, identity: impl Into<Bytes>) -> Result<(), ConfigError> {
        let identity = identity.into();
        if identity.is_empty() || identity.len() > 255 || identity[0] == 0 {
            return Err(ConfigError::BadIdentity(
                identity.escape_ascii().to_string(),
            ));
        }
        self.identity = Some(identity);
        Ok(())
    }

    /// The routing identity we announce, if set.
    pub fn identity(&self) -> Option<&Bytes> {
        self.identity.as_ref()
    }

    /// What a peer learns of a socket with this configuration from its READY (ZMTP 3.1,
    /// no security), for transports that skip the handshake: `inproc://`, where both
    /// sockets live in one process.
    pub fn peer_info(&self) -> PeerInfo {
        let metadata = self.local_metadata();
        PeerInfo {
            socket_type: self.socket_type,
            identity: metadata.identity().cloned(),
            version: ZmtpVersion::V3_1,
            mechanism: MechanismName::NULL,
            metadata,
            user_id: None,
            auth_metadata: Metadata::new(),
        }
    }

    /// The metadata we send in READY: `Socket-Type`, `Identity` where libzmq sends one,
    /// then the extra properties.
    pub fn local_metadata(&self) -> Metadata {
        let mut meta = Metadata::new();
        let mut insert = |name: &str, value: Bytes| {
            meta.insert(name, value)
                .expect("names and values checked on the way in");
        };
        insert(
            super::metadata::SOCKET_TYPE,
            Bytes::from_static(self.socket_type.as_str().as_bytes()),
        );
        if self.socket_type.announces_identity() {
            insert(
                super::metadata::IDENTITY,
                self.identity.clone().unwrap_or_default(),
            );
        }
        for (name, value) in self.properties.iter() {
            insert(name, value.clone());
        }
        meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_rules() {
        let mut config = Config::new(SocketType::Dealer);
        assert!(config.set_identity("").is_err());
        assert!(config.set_identity(vec![0u8, 1]).is_err());
        assert!(config.set_identity(vec![1u8; 256]).is_err());
        config.set_identity("worker-1").unwrap();
        assert_eq!(config.local_metadata().identity().unwrap(), "worker-1");
    }

    #[test]
    fn identity_only_where_libzmq_sends_one() {
        let mut pub_config = Config::new(SocketType::Pub);
        pub_config.set_identity("x").unwrap();
        assert!(pub_config.local_metadata().get("Identity").is_none());
        let req = Config::new(SocketType::Req).local_metadata();
        assert_eq!(req.get("Identity").map(Bytes::len), Some(0));
    }
}
