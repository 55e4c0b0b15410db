//! Authentication with ZAP's semantics (RFC 27), as a sans-IO exchange: a server-side
//! handshake stops at an [`AuthRequest`] and goes on with the application's
//! [`AuthDecision`].

use std::fmt;

use bytes::Bytes;
use zeroize::Zeroizing;

#[cfg(feature = "curve")]
use super::keys::CurvePublicKey;
use crate::proto::{MechanismName, Metadata};

/// What a client proved or claimed in its handshake.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// NULL: nothing (an authenticator can still decide by address or domain).
    Null,
    /// PLAIN: a user name and a password, in clear.
    Plain {
        /// The user name.
        username: Bytes,
        /// The password (wiped on drop, never printed).
        password: Zeroizing<Vec<u8>>,
    },
    /// CURVE: the client's long-term public key, which it proved it holds the secret of.
    #[cfg(feature = "curve")]
    Curve {
        /// The client's public key.
        public_key: CurvePublicKey,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", &username.escape_ascii().to_string())
                .field("password", &"<redacted>")
                .finish(),
            #[cfg(feature = "curve")]
            Self::Curve { public_key } => f
                .debug_struct("Curve")
                .field("public_key", public_key)
                .finish(),
        }
    }
}

/// A client waiting to be let in: what a ZAP request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRequest {
    /// The socket's ZAP domain (libzmq's ZMQ_ZAP_DOMAIN; empty unless set).
    pub domain: Bytes,
    /// The client's transport address (`"127.0.0.1"`…), filled in by the adapter that
    /// knows it; empty in a bare machine.
    pub address: String,
    /// Our socket's routing identity, as ZAP's `identity` frame (empty unless set).
    pub routing_id: Bytes,
    /// The mechanism in use.
    pub mechanism: MechanismName,
    /// What the client presented.
    pub credentials: Credentials,
}

/// ZAP status codes for a refusal (RFC 27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthStatus {
    /// 300: a temporary error; the client may retry.
    TemporaryError,
    /// 400: authentication failed.
    Denied,
    /// 500: the authenticator failed.
    InternalError,
}

impl AuthStatus {
    /// The three-digit code, as sent to the client in the ERROR command.
    pub fn code(self) -> u16 {
        match self {
            Self::TemporaryError => 300,
            Self::Denied => 400,
            Self::InternalError => 500,
        }
    }
}

impl fmt::Display for AuthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// The application's answer to an [`AuthRequest`] (a ZAP reply).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthDecision {
    /// 200: let the client in.
    Allow {
        /// The user id the peer is known by (libzmq's `User-Id` message property).
        user_id: Bytes,
        /// Properties to attach to the peer (ZAP reply metadata).
        metadata: Metadata,
    },
    /// Refuse the client: it is sent an ERROR command with the status code, and its
    /// connection closes.
    Deny {
        /// Why, as a ZAP status.
        status: AuthStatus,
        /// The reason, for our log and the application (not sent: libzmq peers expect only
        /// the status code).
        text: String,
    },
}

impl AuthDecision {
    /// Let the client in with no user id.
    pub fn allow() -> Self {
        Self::allow_as(Bytes::new())
    }

    /// Let the client in, known as `user_id`.
    pub fn allow_as(user_id: impl Into<Bytes>) -> Self {
        Self::Allow {
            user_id: user_id.into(),
            metadata: Metadata::new(),
        }
    }

    /// Refuse the client (status 400).
    pub fn deny(text: impl Into<String>) -> Self {
        Self::Deny {
            status: AuthStatus::Denied,
            text: text.into(),
        }
    }

    /// Refuse the client with a given status.
    pub fn deny_with(status: AuthStatus, text: impl Into<String>) -> Self {
        Self::Deny {
            status,
            text: text.into(),
        }
    }

    /// Whether the client is let in.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow { .. })
    }
}
