//! Two connections shuttling octets in memory, for the mechanisms' tests.

use std::time::Instant;

use bytes::Bytes;

use crate::Msg;
use crate::proto::{Config, Connection, ConnectionError, Event, Role, SocketType};
use crate::security::{AuthDecision, AuthRequest, Security};

pub(crate) struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    /// Every chunk the client and the server sent, in order.
    pub client_wire: Vec<Bytes>,
    pub server_wire: Vec<Bytes>,
}

/// A configuration whose randomness comes from `seed`.
pub(crate) fn config(socket_type: SocketType, security: Security, seed: u64) -> Config {
    let mut config = Config::new(socket_type);
    config.security = security;
    #[cfg(feature = "curve")]
    {
        config.entropy = crate::security::Entropy::seeded(seed);
    }
    let _ = seed;
    config
}

impl Pair {
    /// A DEALER (transport client) with `client` security and a ROUTER (transport server)
    /// with `server` security.
    pub fn new(client: Config, server: Config) -> Self {
        let now = Instant::now();
        Self {
            client: Connection::new(client, Role::Client, now),
            server: Connection::new(server, Role::Server, now),
            now,
            client_wire: Vec::new(),
            server_wire: Vec::new(),
        }
    }

    /// Moves octets both ways until neither side has any; the first error each side hit.
    pub fn settle(&mut self) -> (Option<ConnectionError>, Option<ConnectionError>) {
        let (mut client_err, mut server_err) = (None, None);
        loop {
            let mut moved = false;
            while let Some(chunk) = self.client.poll_transmit() {
                moved = true;
                self.client_wire.push(chunk.clone());
                if let Err(err) = self.server.handle_input(&chunk, self.now) {
                    server_err.get_or_insert(err);
                }
            }
            while let Some(chunk) = self.server.poll_transmit() {
                moved = true;
                self.server_wire.push(chunk.clone());
                if let Err(err) = self.client.handle_input(&chunk, self.now) {
                    client_err.get_or_insert(err);
                }
            }
            if !moved {
                return (client_err, server_err);
            }
        }
    }

    /// Settles, answering every authentication request with `decide`.
    pub fn settle_with(
        &mut self,
        mut decide: impl FnMut(&AuthRequest) -> AuthDecision,
    ) -> (Option<ConnectionError>, Option<ConnectionError>) {
        loop {
            let (c, s) = self.settle();
            match self.server.poll_auth_request() {
                Some(request) => {
                    let decision = decide(&request);
                    let _ = self.server.authenticate(decision, self.now);
                }
                None => return (c, s),
            }
        }
    }
}

pub(crate) fn messages(conn: &mut Connection) -> Vec<Msg> {
    std::iter::from_fn(|| conn.poll_event())
        .filter_map(|event| match event {
            Event::Message(msg) => Some(msg),
            _ => None,
        })
        .collect()
}
