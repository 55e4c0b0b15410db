//! The CURVE server: it holds the secret key clients know the public key of, and learns
//! each client's long-term key from the vouch in INITIATE.

use std::fmt;

use bytes::{Bytes, BytesMut};
use crypto_box::SalsaBox;
use zeroize::Zeroizing;

use super::boxes::{self, Sealer, SessionKey};
use super::cipher::CurveCipher;
use super::{
    COOKIE_LEN, COOKIE_PREFIX, CURVE, HELLO_LEN, HELLO_PREFIX, INITIATE_MIN_LEN, INITIATE_PREFIX,
    READY_PREFIX, VOUCH_LEN, VOUCH_PREFIX, WELCOME_PREFIX, malformed, rejected, short_nonce,
    unexpected,
};
use crate::proto::command::{CommandError, RawCommand};
use crate::proto::greeting::{Greeting, MechanismName};
use crate::proto::mechanism::{FrameCipher, HandshakeOutput, Mechanism, MechanismError, Progress};
use crate::proto::metadata::Metadata;
use crate::security::Credentials;
use crate::security::{CurveKeyPair, CurvePublicKey, Entropy};

enum State {
    Hello,
    /// WELCOME sent; INITIATE comes next.
    Initiate {
        client_short: [u8; 32],
        /// The key that sealed the cookie; it dies with this state.
        cookie_key: Zeroizing<[u8; 32]>,
    },
    /// INITIATE accepted; the application decides, or READY goes out.
    Accepted {
        session: SalsaBox,
        client_short: [u8; 32],
        waiting: Option<Metadata>,
    },
    Gone,
}

/// The server side of a CURVE handshake.
pub struct CurveServer {
    keypair: CurveKeyPair,
    /// Our short-term key pair for this connection (S', s').
    short_public: [u8; 32],
    short_secret: Zeroizing<[u8; 32]>,
    entropy: Entropy,
    ask: bool,
    state: State,
    next_nonce: u64,
    peer_nonce: u64,
}

impl fmt::Debug for CurveServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveServer")
            .field("public", self.keypair.public())
            .finish_non_exhaustive()
    }
}

impl CurveServer {
    /// A server with long-term `keypair`; `ask`: stop at [`Progress::Authenticate`] with
    /// each client's public key.
    pub fn new(keypair: CurveKeyPair, entropy: &Entropy, ask: bool) -> Self {
        let short = CurveKeyPair::generate_with(entropy);
        Self {
            keypair,
            short_public: *short.public().as_bytes(),
            short_secret: Zeroizing::new(*short.secret().as_bytes()),
            entropy: entropy.clone(),
            ask,
            state: State::Hello,
            next_nonce: 1,
            peer_nonce: 0,
        }
    }

    fn on_hello(
        &mut self,
        data: &[u8],
        out: &mut HandshakeOutput,
    ) -> Result<State, MechanismError> {
        if data.len() != HELLO_LEN {
            return Err(malformed("HELLO", data.len(), "194"));
        }
        if data[..2] != [1, 0] {
            return Err(rejected(format!(
                "CURVE version {}.{} in HELLO; this server speaks 1.0",
                data[0], data[1]
            )));
        }
        let client_short: [u8; 32] = data[74..106].try_into().expect("checked length");
        let nonce = short_nonce(&data[106..]);
        let signature = boxes::pair(&client_short, self.keypair.secret().as_bytes())
            .open(&boxes::short(HELLO_PREFIX, nonce), &data[114..])
            .ok_or_else(|| {
                rejected("the HELLO box did not open: the client has another server key than ours")
            })?;
        if signature.iter().any(|&b| b != 0) {
            return Err(rejected("the HELLO signature box is not 64 zero octets"));
        }
        self.peer_nonce = nonce;

        // The cookie holds the client's and our short-term keys under a key only this
        // connection knows: INITIATE must bring it back intact.
        let cookie_key = Zeroizing::new(self.entropy.array::<32>());
        let cookie_random: [u8; 16] = self.entropy.array();
        let mut cookie_plain = Zeroizing::new([0u8; 64]);
        cookie_plain[..32].copy_from_slice(&client_short);
        cookie_plain[32..].copy_from_slice(&self.short_secret[..]);
        let mut cookie = Vec::with_capacity(COOKIE_LEN);
        cookie.extend_from_slice(&cookie_random);
        boxes::secret(&cookie_key).seal_into(
            &boxes::long(COOKIE_PREFIX, &cookie_random),
            &cookie_plain[..],
            &mut cookie,
        );

        let mut welcome_plain = Vec::with_capacity(32 + COOKIE_LEN);
        welcome_plain.extend_from_slice(&self.short_public);
        welcome_plain.extend_from_slice(&cookie);
        let welcome_random: [u8; 16] = self.entropy.array();
        let mut welcome = Vec::with_capacity(super::WELCOME_LEN);
        welcome.extend_from_slice(&welcome_random);
        boxes::pair(&client_short, self.keypair.secret().as_bytes()).seal_into(
            &boxes::long(WELCOME_PREFIX, &welcome_random),
            &welcome_plain,
            &mut welcome,
        );
        out.send_raw("WELCOME", &welcome);
        Ok(State::Initiate {
            client_short,
            cookie_key,
        })
    }

    fn on_initiate(
        &mut self,
        data: &[u8],
        client_short: &[u8; 32],
        cookie_key: &[u8; 32],
    ) -> Result<(SalsaBox, CurvePublicKey, Metadata), MechanismError> {
        if data.len() < INITIATE_MIN_LEN {
            return Err(malformed("INITIATE", data.len(), "at least 257"));
        }
        let cookie = boxes::secret(cookie_key)
            .open(
                &boxes::long(COOKIE_PREFIX, &data[..16]),
                &data[16..COOKIE_LEN],
            )
            .ok_or_else(|| rejected("the INITIATE cookie is not the one we sent"))?;
        if cookie[..32] != client_short[..] || cookie[32..] != self.short_secret[..] {
            return Err(rejected("the INITIATE cookie is for another connection"));
        }
        let nonce = short_nonce(&data[COOKIE_LEN..]);
        if nonce <= self.peer_nonce {
            return Err(rejected(format!(
                "INITIATE nonce {nonce} does not follow HELLO's {}",
                self.peer_nonce
            )));
        }
        let session = boxes::pair(client_short, &self.short_secret);
        let plain = session
            .open(
                &boxes::short(INITIATE_PREFIX, nonce),
                &data[COOKIE_LEN + 8..],
            )
            .ok_or_else(|| rejected("the INITIATE box did not open"))?;
        let client_key: [u8; 32] = plain[..32].try_into().expect("checked length");
        let vouch = &plain[32..32 + VOUCH_LEN];
        let vouched = boxes::pair(&client_key, &self.short_secret)
            .open(&boxes::long(VOUCH_PREFIX, &vouch[..16]), &vouch[16..])
            .ok_or_else(|| rejected("the vouch did not open: the client does not hold its key"))?;
        if vouched[..32] != client_short[..]
            || vouched[32..] != self.keypair.public().as_bytes()[..]
        {
            return Err(rejected(
                "the vouch is for other keys than this connection's",
            ));
        }
        let metadata = Metadata::parse(Bytes::copy_from_slice(&plain[32 + VOUCH_LEN..]))
            .map_err(|err| MechanismError::malformed(CURVE, CommandError::Metadata(err)))?;
        self.peer_nonce = nonce;
        Ok((session, CurvePublicKey::from_bytes(client_key), metadata))
    }
}

impl Mechanism for CurveServer {
    fn name(&self) -> MechanismName {
        CURVE
    }

    fn as_server(&self) -> bool {
        true
    }

    /// Only two servers can be caught here: libzmq leaves the as-server octet zero (see
    /// the PLAIN server); two clients fail at once, each receiving a HELLO.
    fn check_peer_greeting(&self, peer: &Greeting) -> Result<(), MechanismError> {
        if peer.as_server {
            Err(rejected(
                "CURVE needs one client and one server; both sides are servers",
            ))
        } else {
            Ok(())
        }
    }

    fn handle_command(
        &mut self,
        command: RawCommand,
        _local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        match (&self.state, &command.name[..]) {
            (State::Hello, b"HELLO") => {
                self.state = self.on_hello(&command.data, out)?;
                Ok(Progress::Continue)
            }
            (State::Initiate { .. }, b"INITIATE") => {
                let State::Initiate {
                    client_short,
                    cookie_key,
                } = std::mem::replace(&mut self.state, State::Gone)
                else {
                    unreachable!("matched above");
                };
                let (session, client_key, metadata) =
                    self.on_initiate(&command.data, &client_short, &cookie_key)?;
                if self.ask {
                    self.state = State::Accepted {
                        session,
                        client_short,
                        waiting: Some(metadata),
                    };
                    return Ok(Progress::Authenticate(Credentials::Curve {
                        public_key: client_key,
                    }));
                }
                self.state = State::Accepted {
                    session,
                    client_short,
                    waiting: None,
                };
                Ok(Progress::PeerReady(metadata))
            }
            (State::Hello, _) => Err(unexpected(&command, "instead of HELLO")),
            (State::Initiate { .. }, _) => Err(unexpected(&command, "instead of INITIATE")),
            (State::Accepted { .. } | State::Gone, _) => {
                Err(unexpected(&command, "after INITIATE"))
            }
        }
    }

    fn allowed(
        &mut self,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        match &mut self.state {
            State::Accepted { waiting, .. } if waiting.is_some() => {
                Ok(Progress::PeerReady(waiting.take().expect("checked")))
            }
            _ => Err(MechanismError::UnexpectedCommand {
                mechanism: CURVE,
                command: "authentication decision".into(),
                when: "with no INITIATE waiting",
            }),
        }
    }

    fn accept(
        mut self: Box<Self>,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Option<Box<dyn FrameCipher>>, MechanismError> {
        let State::Accepted {
            session,
            client_short,
            ..
        } = std::mem::replace(&mut self.state, State::Gone)
        else {
            return Err(rejected("the handshake accepted before INITIATE"));
        };
        let nonce = self.next_nonce;
        let mut meta = BytesMut::with_capacity(local.encoded_len());
        local.encode(&mut meta);
        let mut ready = Vec::with_capacity(8 + 16 + meta.len());
        ready.extend_from_slice(&nonce.to_be_bytes());
        session.seal_into(&boxes::short(READY_PREFIX, nonce), &meta, &mut ready);
        out.send_raw("READY", &ready);
        Ok(Some(Box::new(CurveCipher::server(
            SessionKey::new(&client_short, &self.short_secret),
            nonce + 1,
            self.peer_nonce,
        ))))
    }
}
