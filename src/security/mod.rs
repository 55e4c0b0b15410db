//! Security: which mechanism a socket uses (NULL, PLAIN, CURVE), CURVE keys and Z85, the
//! randomness handshakes draw on, and authentication with ZAP's semantics.
//!
//! Everything here is pure: keys and randomness are inputs, and authentication is an
//! exchange of values ([`AuthRequest`] out, [`AuthDecision`] in) that an adapter answers
//! with the application's authenticator, synchronously or not.
//!
//! | libzmq | here |
//! |---|---|
//! | `ZMQ_PLAIN_SERVER` | [`Security::PlainServer`] |
//! | `ZMQ_PLAIN_USERNAME` + `ZMQ_PLAIN_PASSWORD` | [`Security::plain_client`] |
//! | `ZMQ_CURVE_SERVER` + `ZMQ_CURVE_SECRETKEY` | [`Security::curve_server`] |
//! | `ZMQ_CURVE_SERVERKEY` + `ZMQ_CURVE_PUBLICKEY` + `ZMQ_CURVE_SECRETKEY` | [`Security::curve_client`] |
//! | `zmq_curve_keypair` / `zmq_curve_public` | [`CurveKeyPair::generate`] / [`CurveSecretKey::public_key`] |
//! | `zmq_z85_encode` / `zmq_z85_decode` | [`z85::encode`] / [`z85::decode`] |
//! | a ZAP handler at `inproc://zeromq.zap.01` | an authenticator: [`AuthRequest`] → [`AuthDecision`] |

mod auth;
mod entropy;
#[cfg(feature = "curve")]
mod keys;
pub mod z85;

use std::fmt;

use bytes::Bytes;
use zeroize::Zeroizing;

pub use auth::{AuthDecision, AuthRequest, AuthStatus, Credentials};
#[cfg(feature = "curve")]
pub use entropy::OsEntropy;
pub use entropy::{Entropy, EntropySource, SeededEntropy};
#[cfg(feature = "curve")]
pub use keys::{CurveKeyPair, CurvePublicKey, CurveSecretKey, KEY_LEN, KeyError, Z85_KEY_LEN};
pub use z85::Z85Error;

use crate::proto::MechanismName;

/// The security mechanism of a socket's connections, and its side of it. Which side is
/// the mechanism's server is independent of which side binds.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Security {
    /// No security (the default): anyone who can connect may talk.
    #[default]
    Null,
    /// PLAIN client (RFC 24): sends a user name and password, in clear.
    PlainClient {
        /// The user name (at most 255 octets).
        username: Bytes,
        /// The password (at most 255 octets; wiped on drop, never printed).
        password: Zeroizing<Vec<u8>>,
    },
    /// PLAIN server: clients' user names and passwords go to the socket's authenticator;
    /// without one no client is let in (as libzmq without a ZAP handler).
    PlainServer,
    /// CURVE client (RFC 25/26): encrypted, and it authenticates the server by its key.
    #[cfg(feature = "curve")]
    CurveClient {
        /// The server's public key: a server without its secret key cannot answer.
        server_key: CurvePublicKey,
        /// Our long-term key pair (the server's authenticator sees the public key).
        keypair: CurveKeyPair,
    },
    /// CURVE server: encrypted; clients are known by their public keys.
    #[cfg(feature = "curve")]
    CurveServer {
        /// Our long-term key pair; clients need its public key.
        keypair: CurveKeyPair,
    },
}

impl Security {
    /// A PLAIN client with these credentials (each at most 255 octets).
    pub fn plain_client(username: impl Into<Bytes>, password: impl AsRef<[u8]>) -> Self {
        Self::PlainClient {
            username: username.into(),
            password: Zeroizing::new(password.as_ref().to_vec()),
        }
    }

    /// A CURVE client of the server whose public key is `server_key`.
    #[cfg(feature = "curve")]
    pub fn curve_client(server_key: CurvePublicKey, keypair: CurveKeyPair) -> Self {
        Self::CurveClient {
            server_key,
            keypair,
        }
    }

    /// A CURVE server with this secret key (its public key is what clients need).
    #[cfg(feature = "curve")]
    pub fn curve_server(secret: CurveSecretKey) -> Self {
        Self::CurveServer {
            keypair: CurveKeyPair::from_secret(secret),
        }
    }

    /// The mechanism's name in the greeting.
    pub fn mechanism(&self) -> MechanismName {
        match self {
            Self::Null => MechanismName::NULL,
            Self::PlainClient { .. } | Self::PlainServer => MechanismName::PLAIN,
            #[cfg(feature = "curve")]
            Self::CurveClient { .. } | Self::CurveServer { .. } => MechanismName::CURVE,
        }
    }

    /// Whether this is the server side of PLAIN or CURVE (the side that authenticates).
    pub fn is_server(&self) -> bool {
        match self {
            Self::PlainServer => true,
            #[cfg(feature = "curve")]
            Self::CurveServer { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Debug for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::PlainClient { username, .. } => f
                .debug_struct("PlainClient")
                .field("username", &username.escape_ascii().to_string())
                .field("password", &"<redacted>")
                .finish(),
            Self::PlainServer => f.write_str("PlainServer"),
            #[cfg(feature = "curve")]
            Self::CurveClient {
                server_key,
                keypair,
            } => f
                .debug_struct("CurveClient")
                .field("server_key", server_key)
                .field("public", keypair.public())
                .finish(),
            #[cfg(feature = "curve")]
            Self::CurveServer { keypair } => f
                .debug_struct("CurveServer")
                .field("public", keypair.public())
                .finish(),
        }
    }
}
