use bytes::Bytes;

use crate::Msg;
use crate::proto::mechanism::test_support::{Pair, config, messages};
use crate::proto::{ConnectionError, Event, MechanismError, MechanismName, SocketType};
use crate::security::{AuthDecision, Credentials, CurveKeyPair, Entropy, Security};

// libzmq's test keys (tests/testutil_security.hpp).
const CLIENT_PUBLIC: &str = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
const SERVER_PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

fn server_keys() -> CurveKeyPair {
    CurveKeyPair::from_z85(SERVER_PUBLIC, SERVER_SECRET).unwrap()
}

fn client_security(server_public: &str) -> Security {
    Security::curve_client(
        server_public.parse().unwrap(),
        CurveKeyPair::from_z85(CLIENT_PUBLIC, CLIENT_SECRET).unwrap(),
    )
}

fn pair_of(client: SocketType, server: SocketType, ask: bool) -> Pair {
    let client = config(client, client_security(SERVER_PUBLIC), 1);
    let mut server = config(
        server,
        Security::curve_server(server_keys().secret().clone()),
        2,
    );
    server.authenticate = ask;
    Pair::new(client, server)
}

fn pair(ask: bool) -> Pair {
    pair_of(SocketType::Dealer, SocketType::Router, ask)
}

/// Splits a stream after the 64-octet greeting into frames: (flags, body).
fn frames(wire: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut rest = &wire[64..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let flags = rest[0];
        let (len, header) = if flags & 0x02 != 0 {
            (
                u64::from_be_bytes(rest[1..9].try_into().unwrap()) as usize,
                9,
            )
        } else {
            (usize::from(rest[1]), 2)
        };
        out.push((flags, rest[header..header + len].to_vec()));
        rest = &rest[header + len..];
    }
    out
}

#[test]
fn handshake_commands_have_rfc26_layouts() {
    let mut pair = pair(false);
    assert_eq!(pair.settle(), (None, None));
    let client = pair.client_wire.concat();
    let server = pair.server_wire.concat();
    assert_eq!(&client[12..17], b"CURVE");
    assert_eq!((client[32], server[32]), (0, 1), "as-server octets");
    let client_frames = frames(&client);
    let server_frames = frames(&server);
    let hello = &client_frames[0];
    assert_eq!(hello.0, 0x04, "HELLO is a command frame");
    assert_eq!(hello.1.len(), 200);
    assert_eq!(&hello.1[..6], b"\x05HELLO");
    assert_eq!(&hello.1[6..8], &[1, 0], "version 1.0");
    assert!(
        hello.1[8..80].iter().all(|&b| b == 0),
        "72 octets of padding"
    );
    assert_eq!(
        &hello.1[112..120],
        &1u64.to_be_bytes(),
        "the first short nonce is 1"
    );
    let welcome = &server_frames[0];
    assert_eq!(welcome.1.len(), 168);
    assert_eq!(&welcome.1[..8], b"\x07WELCOME");
    let initiate = &client_frames[1];
    let meta_len = pair.client.config().local_metadata().encoded_len();
    assert_eq!(&initiate.1[..9], b"\x08INITIATE");
    assert_eq!(initiate.1.len(), 9 + 96 + 8 + 16 + 128 + meta_len);
    assert_eq!(&initiate.1[105..113], &2u64.to_be_bytes());
    let ready = &server_frames[1];
    let server_meta_len = pair.server.config().local_metadata().encoded_len();
    assert_eq!(&ready.1[..6], b"\x05READY");
    assert_eq!(ready.1.len(), 6 + 8 + 16 + server_meta_len);
    assert!(pair.client.is_ready() && pair.server.is_ready());
    assert_eq!(pair.server.peer().unwrap().mechanism, MechanismName::CURVE);
}

#[test]
fn traffic_is_sealed_both_ways_with_increasing_nonces() {
    let mut pair = pair(false);
    pair.settle();
    let sent_before = pair.client_wire.concat().len();
    let big = Bytes::from(vec![0x42u8; 100_000]);
    let msg = Msg::from_frames([Bytes::from_static(b"secret part"), big.clone()]);
    pair.client.send(&msg).unwrap();
    pair.client.send(&Msg::from("second")).unwrap();
    pair.settle();
    assert_eq!(
        messages(&mut pair.server),
        vec![msg.clone(), Msg::from("second")]
    );
    let wire = pair.client_wire.concat();
    let sealed = frames(&wire[..]).split_off(2);
    assert_eq!(sealed.len(), 3, "one MESSAGE per frame");
    for (i, (flags, body)) in sealed.iter().enumerate() {
        assert_eq!(flags & 0x01, 0, "sealed frames never carry MORE");
        assert_eq!(&body[..8], b"\x07MESSAGE");
        assert_eq!(&body[8..16], &(3 + i as u64).to_be_bytes());
    }
    assert!(
        !wire[sent_before..].windows(11).any(|w| w == b"secret part"),
        "plaintext on the wire"
    );
    // And back, with a multipart reply through the ROUTER's own encoding.
    pair.server.send(&Msg::from("reply")).unwrap();
    pair.settle();
    assert_eq!(messages(&mut pair.client), vec![Msg::from("reply")]);
}

#[test]
fn subscriptions_travel_sealed() {
    let mut pair = pair_of(SocketType::Sub, SocketType::Pub, false);
    pair.settle();
    pair.client.subscribe(b"weather").unwrap();
    pair.settle();
    let events: Vec<Event> = std::iter::from_fn(|| pair.server.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Subscribe(p) if p == "weather")),
        "{events:?}"
    );
}

#[test]
fn a_replayed_message_closes_the_connection() {
    let mut pair = pair(false);
    pair.settle();
    pair.client.send(&Msg::from("once")).unwrap();
    let chunk = pair.client.poll_transmit().unwrap();
    pair.server.handle_input(&chunk, pair.now).unwrap();
    assert_eq!(messages(&mut pair.server), vec![Msg::from("once")]);
    let err = pair.server.handle_input(&chunk, pair.now).unwrap_err();
    assert!(
        matches!(&err, ConnectionError::Mechanism(MechanismError::Cipher { reason, .. }) if reason.contains("replayed")),
        "{err}"
    );
    assert!(messages(&mut pair.server).is_empty());
}

#[test]
fn a_tampered_message_closes_the_connection() {
    let mut pair = pair(false);
    pair.settle();
    pair.client.send(&Msg::from("payload")).unwrap();
    let mut chunk = pair.client.poll_transmit().unwrap().to_vec();
    let last = chunk.len() - 1;
    chunk[last] ^= 1;
    let err = pair.server.handle_input(&chunk, pair.now).unwrap_err();
    assert!(
        matches!(
            err,
            ConnectionError::Mechanism(MechanismError::Cipher { .. })
        ),
        "{err}"
    );
}

#[test]
fn a_client_with_the_wrong_server_key_never_connects() {
    let other_server = CurveKeyPair::generate_with(&Entropy::seeded(99));
    let client = config(
        SocketType::Dealer,
        client_security(&other_server.public().to_z85()),
        1,
    );
    let server = config(
        SocketType::Router,
        Security::curve_server(server_keys().secret().clone()),
        2,
    );
    let mut pair = Pair::new(client, server);
    let (client_err, server_err) = pair.settle();
    assert!(
        matches!(&server_err, Some(ConnectionError::Mechanism(MechanismError::Rejected { reason, .. })) if reason.contains("server key")),
        "{server_err:?}"
    );
    assert!(
        matches!(&client_err, Some(ConnectionError::PeerError(reason)) if reason.contains("server key")),
        "{client_err:?}"
    );
    assert!(!pair.client.is_ready() && !pair.server.is_ready());
}

#[test]
fn the_authenticator_sees_the_clients_public_key_and_can_deny() {
    let mut pair = pair(true);
    let mut seen = Vec::new();
    let (c, s) = pair.settle_with(|request| {
        seen.push(request.credentials.clone());
        AuthDecision::allow_as("client-1")
    });
    assert_eq!((c, s), (None, None));
    match &seen[..] {
        [Credentials::Curve { public_key }] => assert_eq!(public_key.to_z85(), CLIENT_PUBLIC),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        pair.server.peer().unwrap().user_id.as_deref(),
        Some(&b"client-1"[..])
    );

    let mut denied = pair_of(SocketType::Dealer, SocketType::Router, true);
    let (c, _) = denied.settle_with(|_| AuthDecision::deny("unknown key"));
    assert_eq!(
        c,
        Some(ConnectionError::AuthenticationFailed {
            mechanism: MechanismName::CURVE,
            status: 400
        })
    );
}

#[test]
fn the_same_seeds_give_the_same_bytes() {
    let mut a = pair(false);
    let mut b = pair(false);
    a.settle();
    b.settle();
    assert_eq!(a.client_wire, b.client_wire);
    assert_eq!(a.server_wire, b.server_wire);
}

#[test]
fn a_null_client_against_a_curve_server_is_a_mismatch() {
    let client = config(SocketType::Dealer, Security::Null, 1);
    let server = config(
        SocketType::Router,
        Security::curve_server(server_keys().secret().clone()),
        2,
    );
    let (c, s) = Pair::new(client, server).settle();
    assert!(
        matches!(c, Some(ConnectionError::MechanismMismatch { .. })),
        "{c:?}"
    );
    assert!(
        matches!(s, Some(ConnectionError::MechanismMismatch { .. })),
        "{s:?}"
    );
}

#[test]
fn a_server_that_hangs_up_after_hello_is_reported_with_a_hint() {
    let mut pair = pair(false);
    // Only the server's greeting reaches the client, then the transport ends: what a
    // libzmq server does with a HELLO sealed for another key.
    while let Some(chunk) = pair.client.poll_transmit() {
        drop(chunk);
    }
    let greeting = pair.server.poll_transmit().unwrap();
    pair.client.handle_input(&greeting[..64], pair.now).unwrap();
    let err = pair.client.handle_end_of_stream().expect("an error");
    assert!(
        matches!(err, ConnectionError::ClosedInHandshake { mechanism: MechanismName::CURVE, hint: Some(h) } if h.contains("server key")),
        "{err}"
    );
    assert!(pair.client.is_closed());
    // After the handshake, the end of the stream is ordinary.
    let mut done = self::pair(false);
    done.settle();
    assert_eq!(done.client.handle_end_of_stream(), None);
}
