//! The CURVE client: it knows the server's public key, proves its own in a vouch.

use std::fmt;

use bytes::BytesMut;
use crypto_box::SalsaBox;
use zeroize::Zeroizing;

use super::boxes::{self, Sealer, SessionKey};
use super::cipher::CurveCipher;
use super::{
    CURVE, HELLO_PREFIX, INITIATE_PREFIX, READY_MIN_LEN, READY_PREFIX, VOUCH_PREFIX, WELCOME_LEN,
    WELCOME_PREFIX, malformed, rejected, short_nonce, unexpected,
};
use crate::proto::command::{CommandError, RawCommand};
use crate::proto::greeting::MechanismName;
use crate::proto::mechanism::{FrameCipher, HandshakeOutput, Mechanism, MechanismError, Progress};
use crate::proto::metadata::Metadata;
use crate::security::{CurveKeyPair, CurvePublicKey, Entropy};

enum State {
    /// HELLO sent; the WELCOME comes next.
    Welcome,
    /// INITIATE sent; READY comes next, under the session key (shared with the server's
    /// short-term key, kept for the MESSAGE cipher).
    Ready(SalsaBox, [u8; 32]),
    /// READY received; the server's short-term key.
    Done([u8; 32]),
    /// The session has moved into the cipher.
    Gone,
}

/// The client side of a CURVE handshake.
pub struct CurveClient {
    keypair: CurveKeyPair,
    server_key: CurvePublicKey,
    /// Our short-term key pair for this connection (C', c').
    short_public: [u8; 32],
    short_secret: Zeroizing<[u8; 32]>,
    entropy: Entropy,
    state: State,
    /// Our next short nonce (HELLO is 1, as libzmq's).
    next_nonce: u64,
    /// The server's last short nonce.
    peer_nonce: u64,
}

impl fmt::Debug for CurveClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurveClient")
            .field("public", self.keypair.public())
            .field("server_key", &self.server_key)
            .finish_non_exhaustive()
    }
}

impl CurveClient {
    /// A client with long-term `keypair`, for the server whose public key is `server_key`;
    /// its short-term keys come from `entropy`.
    pub fn new(keypair: CurveKeyPair, server_key: CurvePublicKey, entropy: &Entropy) -> Self {
        let short = CurveKeyPair::generate_with(entropy);
        Self {
            keypair,
            server_key,
            short_public: *short.public().as_bytes(),
            short_secret: Zeroizing::new(*short.secret().as_bytes()),
            entropy: entropy.clone(),
            state: State::Welcome,
            next_nonce: 1,
            peer_nonce: 0,
        }
    }

    fn take_nonce(&mut self) -> u64 {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        nonce
    }

    fn on_welcome(
        &mut self,
        data: &[u8],
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<(SalsaBox, [u8; 32]), MechanismError> {
        if data.len() != WELCOME_LEN {
            return Err(malformed("WELCOME", data.len(), "160"));
        }
        let to_server = boxes::pair(self.server_key.as_bytes(), &self.short_secret);
        let welcome = to_server
            .open(&boxes::long(WELCOME_PREFIX, &data[..16]), &data[16..])
            .ok_or_else(|| {
                rejected("the WELCOME box did not open: the server does not hold the secret key of the server key we were given")
            })?;
        let server_short: [u8; 32] = welcome[..32].try_into().expect("a 128-octet plaintext");
        let cookie = &welcome[32..];
        let session = boxes::pair(&server_short, &self.short_secret);

        // The vouch: our short-term key and the server's long-term key, boxed with our
        // long-term secret key, so the server learns that C holds C'.
        let vouch_random: [u8; 16] = self.entropy.array();
        let mut vouch_plain = [0u8; 64];
        vouch_plain[..32].copy_from_slice(&self.short_public);
        vouch_plain[32..].copy_from_slice(self.server_key.as_bytes());
        let vouch_box = boxes::pair(&server_short, self.keypair.secret().as_bytes())
            .seal(&boxes::long(VOUCH_PREFIX, &vouch_random), &vouch_plain);

        let mut plain = Zeroizing::new(Vec::with_capacity(32 + 96 + local.encoded_len()));
        plain.extend_from_slice(self.keypair.public().as_bytes());
        plain.extend_from_slice(&vouch_random);
        plain.extend_from_slice(&vouch_box);
        let mut meta = BytesMut::new();
        local.encode(&mut meta);
        plain.extend_from_slice(&meta);

        let nonce = self.take_nonce();
        let mut initiate = Vec::with_capacity(cookie.len() + 8 + 16 + plain.len());
        initiate.extend_from_slice(cookie);
        initiate.extend_from_slice(&nonce.to_be_bytes());
        session.seal_into(&boxes::short(INITIATE_PREFIX, nonce), &plain, &mut initiate);
        out.send_raw("INITIATE", &initiate);
        Ok((session, server_short))
    }
}

impl Mechanism for CurveClient {
    fn name(&self) -> MechanismName {
        CURVE
    }

    fn as_server(&self) -> bool {
        false
    }

    fn closed_hint(&self) -> Option<&'static str> {
        match self.state {
            State::Welcome => Some(
                "it did not answer our HELLO, as a CURVE server does when HELLO is sealed for \
                 another key: check the server key",
            ),
            State::Ready(..) => Some("it refused our INITIATE: is our public key one it knows?"),
            _ => None,
        }
    }

    fn start(
        &mut self,
        _local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<(), MechanismError> {
        let nonce = self.take_nonce();
        let signature = boxes::pair(self.server_key.as_bytes(), &self.short_secret)
            .seal(&boxes::short(HELLO_PREFIX, nonce), &[0u8; 64]);
        let mut hello = Vec::with_capacity(super::HELLO_LEN);
        hello.extend_from_slice(&[1, 0]);
        hello.extend_from_slice(&[0u8; 72]);
        hello.extend_from_slice(&self.short_public);
        hello.extend_from_slice(&nonce.to_be_bytes());
        hello.extend_from_slice(&signature);
        out.send_raw("HELLO", &hello);
        Ok(())
    }

    fn handle_command(
        &mut self,
        command: RawCommand,
        local: &Metadata,
        out: &mut HandshakeOutput,
    ) -> Result<Progress, MechanismError> {
        match (&self.state, &command.name[..]) {
            (State::Welcome, b"WELCOME") => {
                let (session, server_short) = self.on_welcome(&command.data, local, out)?;
                self.state = State::Ready(session, server_short);
                Ok(Progress::Continue)
            }
            (State::Ready(session, server_short), b"READY") => {
                let data = &command.data;
                if data.len() < READY_MIN_LEN {
                    return Err(malformed("READY", data.len(), "at least 24"));
                }
                let nonce = short_nonce(data);
                let plain = session
                    .open(&boxes::short(READY_PREFIX, nonce), &data[8..])
                    .ok_or_else(|| rejected("the READY box did not open"))?;
                let metadata = Metadata::parse(bytes::Bytes::copy_from_slice(&plain))
                    .map_err(|err| MechanismError::malformed(CURVE, CommandError::Metadata(err)))?;
                self.peer_nonce = nonce;
                self.state = State::Done(*server_short);
                Ok(Progress::PeerReady(metadata))
            }
            (State::Welcome, _) => Err(unexpected(&command, "instead of WELCOME")),
            (State::Ready(..), _) => Err(unexpected(&command, "instead of READY")),
            (State::Done(_) | State::Gone, _) => Err(unexpected(&command, "after READY")),
        }
    }

    fn accept(
        mut self: Box<Self>,
        _local: &Metadata,
        _out: &mut HandshakeOutput,
    ) -> Result<Option<Box<dyn FrameCipher>>, MechanismError> {
        let State::Done(server_short) = std::mem::replace(&mut self.state, State::Gone) else {
            return Err(rejected("the handshake accepted before the server's READY"));
        };
        Ok(Some(Box::new(CurveCipher::client(
            SessionKey::new(&server_short, &self.short_secret),
            self.next_nonce,
            self.peer_nonce,
        ))))
    }
}
