//! [`Authenticator`]: the application's ZAP handler, called by each connection's driver
//! when a client's handshake stops for a decision.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::security::{AuthDecision, AuthRequest};

/// A decision being made.
pub type AuthFuture = Pin<Box<dyn Future<Output = AuthDecision> + Send>>;

/// Decides which clients a socket lets in (libzmq's ZAP handler), given each client's
/// [`AuthRequest`]: PLAIN user and password, CURVE public key, NULL address. Runs in the
/// client's connection task, so a slow decision delays only that client (the handshake
/// timeout bounds it).
///
/// ```
/// use zmq_sansio::io::Authenticator;
/// use zmq_sansio::security::{AuthDecision, Credentials};
///
/// let only_admin = Authenticator::new(|request| match &request.credentials {
///     Credentials::Plain { username, password } if username == "admin" && &password[..] == b"secret" => {
///         AuthDecision::allow_as("admin")
///     }
///     _ => AuthDecision::deny("unknown user"),
/// });
/// # drop(only_admin);
/// ```
#[derive(Clone)]
pub struct Authenticator(Arc<dyn Fn(AuthRequest) -> AuthFuture + Send + Sync>);

impl Authenticator {
    /// An authenticator that decides at once.
    pub fn new(decide: impl Fn(&AuthRequest) -> AuthDecision + Send + Sync + 'static) -> Self {
        Self(Arc::new(move |request| {
            let decision = decide(&request);
            Box::pin(std::future::ready(decision))
        }))
    }

    /// An authenticator that awaits something (a database, a service) to decide.
    pub fn new_async<F>(decide: impl Fn(AuthRequest) -> F + Send + Sync + 'static) -> Self
    where
        F: Future<Output = AuthDecision> + Send + 'static,
    {
        Self(Arc::new(move |request| Box::pin(decide(request))))
    }

    /// Starts deciding on `request`.
    pub fn decide(&self, request: AuthRequest) -> AuthFuture {
        (self.0)(request)
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Authenticator")
    }
}
