//! Whole topologies in memory (`sim::Network`) with CURVE on every link: seeded keys and
//! nonces, an authenticator, arbitrary chunking, and a client the authenticator refuses.

use std::time::{Duration, Instant};

use zmq_sansio::Msg;
use zmq_sansio::pattern::{PeerError, SocketOptions};
use zmq_sansio::proto::{ConnectionError, SocketType};
use zmq_sansio::security::{AuthDecision, Credentials, CurveKeyPair, Entropy, Security};
use zmq_sansio::sim::{Network, SocketId};

fn keys(seed: u64) -> CurveKeyPair {
    CurveKeyPair::generate_with(&Entropy::seeded(seed))
}

fn curve_server(socket_type: SocketType, keys: &CurveKeyPair, seed: u64) -> SocketOptions {
    let mut options = SocketOptions::new(socket_type);
    options.connection.security = Security::curve_server(keys.secret().clone());
    options.connection.authenticate = true;
    options.connection.entropy = Entropy::seeded(seed);
    options
}

fn curve_client(
    socket_type: SocketType,
    server: &CurveKeyPair,
    own: &CurveKeyPair,
    seed: u64,
) -> SocketOptions {
    let mut options = SocketOptions::new(socket_type);
    options.connection.security = Security::curve_client(*server.public(), own.clone());
    options.connection.entropy = Entropy::seeded(seed);
    options
}

/// A PUB serving three SUBs, one of them unknown to its authenticator; returns what each
/// known SUB received, and the transcript of everything for determinism checks.
fn broadcast(seed: u64) -> (Network, SocketId, Vec<SocketId>, SocketId, Vec<String>) {
    let mut net = Network::new(Instant::now());
    net.set_max_chunk(13);
    let server_keys = keys(seed);
    let publisher = net.add_socket(curve_server(SocketType::Pub, &server_keys, seed + 1));
    let known: Vec<CurveKeyPair> = (0..2).map(|i| keys(seed + 10 + i)).collect();
    let allowed: Vec<String> = known.iter().map(|k| k.public().to_z85()).collect();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let decisions = std::sync::Arc::clone(&log);
    net.set_authenticator(publisher, move |request| {
        let Credentials::Curve { public_key } = &request.credentials else {
            return AuthDecision::deny("CURVE only");
        };
        let key = public_key.to_z85();
        let ok = allowed.contains(&key);
        decisions.lock().unwrap().push(format!("{key} {ok}"));
        if ok {
            AuthDecision::allow_as(key)
        } else {
            AuthDecision::deny("unknown key")
        }
    });
    let subscribers: Vec<SocketId> = known
        .iter()
        .enumerate()
        .map(|(i, own)| {
            let sub = net.add_socket(curve_client(
                SocketType::Sub,
                &server_keys,
                own,
                seed + 20 + i as u64,
            ));
            net.socket(sub).subscribe(b"").unwrap();
            net.connect(sub, publisher);
            sub
        })
        .collect();
    let stranger = net.add_socket(curve_client(
        SocketType::Sub,
        &server_keys,
        &keys(seed + 99),
        seed + 30,
    ));
    net.socket(stranger).subscribe(b"").unwrap();
    let stranger_link = net.connect(stranger, publisher);
    net.advance(Duration::from_millis(100));
    let error = net.link_error(stranger_link).cloned();
    assert!(
        matches!(
            error,
            Some(PeerError::Protocol(ConnectionError::Mechanism(_)))
                | Some(PeerError::Protocol(
                    ConnectionError::AuthenticationFailed { .. }
                ))
        ),
        "the stranger's link failed: {error:?}"
    );
    let transcript = log.lock().unwrap().clone();
    (net, publisher, subscribers, stranger, transcript)
}

#[test]
fn curve_on_every_link_delivers_to_known_clients_only() {
    let (mut net, publisher, subscribers, stranger, transcript) = broadcast(1);
    assert_eq!(
        transcript.len(),
        3,
        "one decision per client: {transcript:?}"
    );
    for i in 0..20 {
        net.socket(publisher)
            .send(Msg::from(format!("tick {i}")))
            .unwrap();
    }
    net.run();
    for &sub in &subscribers {
        let got: Vec<Msg> = std::iter::from_fn(|| net.socket(sub).recv().unwrap()).collect();
        assert_eq!(got.len(), 20);
        assert_eq!(got[19], Msg::from("tick 19"));
    }
    assert_eq!(net.socket(stranger).recv().unwrap(), None);
}

#[test]
fn curve_req_rep_survives_heartbeats_and_time() {
    let mut net = Network::new(Instant::now());
    net.set_max_chunk(5);
    let server_keys = keys(7);
    let mut rep_options = curve_server(SocketType::Rep, &server_keys, 8);
    rep_options.connection.authenticate = false;
    rep_options.connection.heartbeat.interval = Some(Duration::from_secs(1));
    let rep = net.add_socket(rep_options);
    let req = net.add_socket(curve_client(SocketType::Req, &server_keys, &keys(9), 10));
    net.connect(req, rep);
    for i in 0..5 {
        net.advance(Duration::from_secs(3)); // heartbeats travel sealed meanwhile
        net.socket(req).send(Msg::from(format!("q{i}"))).unwrap();
        net.run();
        let request = net.socket(rep).recv().unwrap().expect("request");
        net.socket(rep).send(request).unwrap();
        net.run();
        assert_eq!(
            net.socket(req).recv().unwrap(),
            Some(Msg::from(format!("q{i}")))
        );
    }
}

#[test]
fn the_same_seed_replays_the_same_decisions() {
    assert_eq!(broadcast(3).4, broadcast(3).4);
    assert_ne!(broadcast(3).4, broadcast(4).4);
}
