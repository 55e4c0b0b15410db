//! The PLAIN mechanism (RFC 24): a user name and password in clear, for trusted networks
//! or under TLS. The client says HELLO with its credentials, the server answers WELCOME
//! (or ERROR), the client sends its metadata in INITIATE, the server its own in READY.

use bytes::{BufMut, Bytes, BytesMut};
use zeroize::Zeroizing;

use super::{HandshakeOutput, Mechanism, MechanismError, Progress};
use crate::proto::command::{CommandError, RawCommand};
use crate::proto::greeting::{Greeting, MechanismName};
use crate::proto::metadata::Metadata;
use crate::security::Credentials;

const PLAIN: MechanismName = MechanismName::PLAIN;

fn unexpected(command: &RawCommand, when: &'static str) -> MechanismError {
    MechanismError::UnexpectedCommand {
        mechanism: PLAIN,
        command: command.name_str(),
        when,
    }
}

/// Two servers would wait for each other until the handshake times out. Only a peer that
/// says it is a server can be caught: libzmq leaves the as-server octet zero on both sides
/// (and ignores it), so a client cannot tell a libzmq server from another client. Two
/// clients fail at once anyway, each receiving a HELLO instead of a WELCOME.
fn check_not_both_servers(peer: &Greeting) -> Result<(), MechanismError> {
    if peer.as_server {
        return Err(MechanismError::Rejected {
            mechanism: PLAIN,
            reason: "PLAIN needs one client and one server; both sides are servers".into(),
        });
    }
    Ok(())
}

fn metadata(command: &RawCommand) -> Result<Metadata, MechanismError> {
    Metadata::parse(command.data.clone())
        .map_err(|err| MechanismError::malformed(PLAIN, CommandError::Metadata(err)))
}

fn metadata_command(name: &str, local: &Metadata, out: &mut HandshakeOutput) {
    let mut data = BytesMut::with_capacity(local.encoded_len());
    local.encode(&mut data);
    out.send_raw(name, &data);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Welcome,
    Ready,
    Done,
}

/// The PLAIN client: presents a user name and password.
pub struct PlainClient {
    username: Bytes,
    password: Zeroizing<Vec<u8>>,
    state: ClientState,
}

impl std::fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainClient")
            .field("username", &self.username.escape_ascii().to_string())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl PlainClient {
    /// A client with these credentials. Each is cut to 255 octets, the most HELLO carries
    /// (builders check the length before it gets here).
    pub fn new(username: Bytes, password: Zeroizing<Vec<u8>>) -> Self {
        Self {
            username,
            password,
            state: ClientState::Welcome,
        }
    }
}

impl Mechanism for PlainClient {
    fn name(&self) -> MechanismName {
        PLAIN
    }

    fn closed_hint(&self) -> Option<&'static str> {
        (self.state == ClientState::Welcome)
            .then_some("it did not answer our HELLO: does it run PLAIN with an authenticator?")
    }

    fn as_server(&self) -> bool {
        false
    }

    fn start(
        &mut self,
        _local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<(), MechanismError> {
        let user = &self.username[..self.username.len().min(255)];
        let pass = &self.password[..self.password.len().min(255)];
        let mut data = Zeroizing::new(Vec::with_capacity(2 + user.len() + pass.len()));
        data.put_u8(user.len() as u8);
        data.put_slice(user);
        data.put_u8(pass.len() as u8);
        data.put_slice(pass);
        out.send_raw("HELLO", &data);
        Ok(())
    }

    fn handle_command(
        &mut self,
        command: RawCommand,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        match (self.state, &command.name[..]) {
            (ClientState::Welcome, b"WELCOME") => {
                if !command.data.is_empty() {
                    return Err(MechanismError::malformed(
                        PLAIN,
                        CommandError::Trailing(command.data.len(), "WELCOME"),
                    ));
                }
                metadata_command("INITIATE", local, out);
                self.state = ClientState::Ready;
                Ok(Progress::Continue)
            }
            (ClientState::Ready, b"READY") => {
                self.state = ClientState::Done;
                Ok(Progress::PeerReady(metadata(&command)?))
            }
            (ClientState::Welcome, _) => Err(unexpected(&command, "instead of WELCOME")),
            (ClientState::Ready, _) => Err(unexpected(&command, "instead of READY")),
            (ClientState::Done, _) => Err(unexpected(&command, "after READY")),
        }
    }

    fn accept(
        self: Box<Self>,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<Option<Box<dyn super::FrameCipher>>, MechanismError> {
        Ok(None)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Hello,
    Deciding,
    Initiate,
    Done,
}

/// The PLAIN server: takes clients' credentials to the application's authenticator.
/// Without one it lets no client in, as libzmq's PLAIN server without a ZAP handler: a
/// password nobody checks would be worse than none.
#[derive(Debug)]
pub struct PlainServer {
    ask: bool,
    state: ServerState,
}

impl PlainServer {
    /// A server; `ask`: stop at [`Progress::Authenticate`] for each client (without it,
    /// every client is refused).
    pub fn new(ask: bool) -> Self {
        Self {
            ask,
            state: ServerState::Hello,
        }
    }
}

/// Splits HELLO's data into user name and password.
fn parse_hello(data: &Bytes) -> Result<(Bytes, Zeroizing<Vec<u8>>), MechanismError> {
    let truncated = |what, needed, available| {
        MechanismError::malformed(
            PLAIN,
            CommandError::Truncated {
                what,
                needed,
                available,
            },
        )
    };
    let user_len = usize::from(
        *data
            .first()
            .ok_or_else(|| truncated("user name length", 1, 0))?,
    );
    let rest = data.len() - 1;
    if rest < user_len + 1 {
        return Err(truncated("user name", user_len + 1, rest));
    }
    let username = data.slice(1..1 + user_len);
    let pass_len = usize::from(data[1 + user_len]);
    let rest = data.len() - 2 - user_len;
    if rest < pass_len {
        return Err(truncated("password", pass_len, rest));
    }
    if rest > pass_len {
        return Err(MechanismError::malformed(
            PLAIN,
            CommandError::Trailing(rest - pass_len, "HELLO"),
        ));
    }
    let password = Zeroizing::new(data[2 + user_len..].to_vec());
    Ok((username, password))
}

impl Mechanism for PlainServer {
    fn name(&self) -> MechanismName {
        PLAIN
    }

    fn as_server(&self) -> bool {
        true
    }

    fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), MechanismError> {
        check_not_both_servers(peer)
    }

    fn handle_command(
        &mut self,
        command: RawCommand,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        match (self.state, &command.name[..]) {
            (ServerState::Hello, b"HELLO") => {
                let (username, password) = parse_hello(&command.data)?;
                if !self.ask {
                    return Err(MechanismError::Rejected {
                        mechanism: PLAIN,
                        reason: "this PLAIN server has no authenticator to check passwords, so \
                                 it lets no one in (as libzmq without a ZAP handler)"
                            .into(),
                    });
                }
                self.state = ServerState::Deciding;
                Ok(Progress::Authenticate(Credentials::Plain {
                    username,
                    password,
                }))
            }
            (ServerState::Initiate, b"INITIATE") => {
                self.state = ServerState::Done;
                Ok(Progress::PeerReady(metadata(&command)?))
            }
            (ServerState::Hello, _) => Err(unexpected(&command, "instead of HELLO")),
            (ServerState::Deciding, _) => Err(unexpected(&command, "before WELCOME")),
            (ServerState::Initiate, _) => Err(unexpected(&command, "instead of INITIATE")),
            (ServerState::Done, _) => Err(unexpected(&command, "after INITIATE")),
        }
    }

    fn allowed(
        &mut self,
        _local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        if self.state != ServerState::Deciding {
            return Err(MechanismError::UnexpectedCommand {
                mechanism: PLAIN,
                command: "authentication decision".into(),
                when: "with no HELLO waiting",
            });
        }
        out.send_raw("WELCOME", &[]);
        self.state = ServerState::Initiate;
        Ok(Progress::Continue)
    }

    fn accept(
        self: Box<Self>,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Option<Box<dyn super::FrameCipher>>, MechanismError> {
        metadata_command("READY", local, out);
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{Pair, config, messages};
    use crate::Msg;
    use crate::proto::{ConnectionError, MechanismError, SocketType};
    use crate::security::{AuthDecision, AuthStatus, Credentials, Security};

    fn pair(ask: bool) -> Pair {
        let client = config(
            SocketType::Dealer,
            Security::plain_client("admin", "secret"),
            1,
        );
        let mut server = config(SocketType::Router, Security::PlainServer, 2);
        server.authenticate = ask;
        server.zap_domain = "global".into();
        Pair::new(client, server)
    }

    #[test]
    fn without_an_authenticator_no_client_is_let_in() {
        // libzmq's PLAIN server without a ZAP handler refuses everyone too.
        let mut pair = pair(false);
        let (client_err, server_err) = pair.settle();
        assert!(
            matches!(&server_err, Some(ConnectionError::Mechanism(MechanismError::Rejected { reason, .. })) if reason.contains("no authenticator")),
            "{server_err:?}"
        );
        assert!(
            matches!(&client_err, Some(ConnectionError::PeerError(reason)) if reason.contains("no authenticator")),
            "{client_err:?}"
        );
        assert!(!pair.client.is_ready() && !pair.server.is_ready());
    }

    #[test]
    fn the_allowed_client_exchanges_messages() {
        let mut pair = pair(true);
        pair.settle_with(|_| AuthDecision::allow());
        assert!(pair.client.is_ready() && pair.server.is_ready());
        assert_eq!(
            pair.server.peer().unwrap().user_id.as_deref(),
            Some(&b""[..])
        );
        pair.client.send(&Msg::from("hi")).unwrap();
        pair.settle();
        assert_eq!(messages(&mut pair.server), vec![Msg::from("hi")]);
    }

    #[test]
    fn hello_is_rfc24s_layout_and_the_authenticator_sees_the_credentials() {
        let mut pair = pair(true);
        let mut asked = Vec::new();
        let (c, s) = pair.settle_with(|request| {
            asked.push(request.clone());
            AuthDecision::allow_as("admin-user")
        });
        assert_eq!((c, s), (None, None));
        // Greeting (64) then HELLO: flags, size, "\x05HELLO", 5 "admin", 6 "secret".
        let wire: Vec<u8> = pair.client_wire.concat();
        assert_eq!(&wire[12..17], b"PLAIN");
        assert_eq!(wire[32], 0, "client greets with as-server 0");
        assert_eq!(&wire[64..66], &[0x04, 19]);
        assert_eq!(&wire[66..85], b"\x05HELLO\x05admin\x06secret");
        assert_eq!(asked.len(), 1);
        assert_eq!(asked[0].domain, "global");
        match &asked[0].credentials {
            Credentials::Plain { username, password } => {
                assert_eq!(username, "admin");
                assert_eq!(&password[..], b"secret");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{:?}", asked[0]).contains("secret"));
        let peer = pair.server.peer().unwrap();
        assert_eq!(peer.user_id.as_deref(), Some(&b"admin-user"[..]));
        assert_eq!(peer.socket_type, SocketType::Dealer);
        assert_eq!(pair.client.peer().unwrap().socket_type, SocketType::Router);
    }

    #[test]
    fn a_denied_client_gets_the_status_code_and_both_sides_close() {
        let mut pair = pair(true);
        let (client_err, server_err) = pair.settle_with(|_| AuthDecision::deny("wrong password"));
        assert_eq!(
            client_err,
            Some(ConnectionError::AuthenticationFailed {
                mechanism: crate::proto::MechanismName::PLAIN,
                status: 400
            })
        );
        assert!(pair.server.is_closed() && pair.client.is_closed());
        assert!(matches!(
            pair.server.error(),
            Some(ConnectionError::Mechanism(MechanismError::Denied {
                status: AuthStatus::Denied,
                ..
            }))
        ));
        // libzmq clients read the ERROR reason as a bare status code.
        let wire: Vec<u8> = pair.server_wire.concat();
        assert!(
            wire.ends_with(b"\x05ERROR\x03400"),
            "{:?}",
            wire.escape_ascii().to_string()
        );
        let _ = server_err;
    }

    #[test]
    fn two_clients_or_two_servers_are_refused() {
        let a = config(SocketType::Dealer, Security::plain_client("a", "b"), 1);
        let b = config(SocketType::Router, Security::plain_client("a", "b"), 2);
        let mut both_clients = Pair::new(a, b);
        let (c, s) = both_clients.settle();
        // libzmq servers greet as clients too, so two clients meet at the first HELLO.
        assert!(
            matches!(
                c,
                Some(ConnectionError::Mechanism(
                    MechanismError::UnexpectedCommand { .. }
                ))
            ),
            "{c:?}"
        );
        assert!(s.is_some());
        let a = config(SocketType::Dealer, Security::PlainServer, 1);
        let b = config(SocketType::Router, Security::PlainServer, 2);
        let (c, s) = Pair::new(a, b).settle();
        assert!(
            matches!(&c, Some(ConnectionError::Mechanism(MechanismError::Rejected { reason, .. })) if reason.contains("both sides are servers")),
            "{c:?}"
        );
        assert!(s.is_some());
    }

    #[test]
    fn a_null_peer_is_a_mechanism_mismatch() {
        let client = config(SocketType::Dealer, Security::Null, 1);
        let server = config(SocketType::Router, Security::PlainServer, 2);
        let (c, s) = Pair::new(client, server).settle();
        assert!(matches!(c, Some(ConnectionError::MechanismMismatch { .. })));
        assert!(matches!(s, Some(ConnectionError::MechanismMismatch { .. })));
    }

    #[test]
    fn malformed_hello_is_refused_not_a_panic() {
        for data in [
            &b""[..],
            b"\x05adm",
            b"\x05admin\x09sec",
            b"\x01a\x01bextra",
        ] {
            assert!(super::parse_hello(&bytes::Bytes::copy_from_slice(data)).is_err());
        }
        let (user, pass) = super::parse_hello(&bytes::Bytes::from_static(b"\x00\x00")).unwrap();
        assert!(user.is_empty() && pass.is_empty());
    }
}
