//! Security over real TCP between our own sockets: CURVE and PLAIN with sync, async and
//! panicking authenticators, what a receiver learns about the sender, refusals.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use zmq_sansio::Msg;
use zmq_sansio::io::{Authenticator, Error, Socket};
use zmq_sansio::proto::{Metadata, SocketType};
use zmq_sansio::security::{AuthDecision, AuthRequest, Credentials, CurveKeyPair};

/// Generous: the machine may be loaded.
const PATIENCE: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    smol::future::or(fut, async {
        smol::Timer::after(PATIENCE).await;
        panic!("{what}: nothing within {PATIENCE:?}")
    })
    .await
}

fn decide_plain(request: &AuthRequest) -> AuthDecision {
    match &request.credentials {
        Credentials::Plain { username, password }
            if username == "alice" && &password[..] == b"wonderland" =>
        {
            let mut metadata = Metadata::new();
            metadata.insert("Department", "rabbit holes").unwrap();
            AuthDecision::Allow {
                user_id: "alice".into(),
                metadata,
            }
        }
        _ => AuthDecision::deny("wrong user or password"),
    }
}

#[test]
fn curve_with_an_async_authenticator_tells_the_receiver_who_sent() {
    smol::block_on(async {
        let server_keys = CurveKeyPair::generate();
        let client_keys = CurveKeyPair::generate();
        let known = *client_keys.public();
        let asked = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&asked);
        let rep = Socket::builder(SocketType::Rep)
            .curve_server(server_keys.secret().clone())
            .zap_domain("global")
            .authenticator(Authenticator::new_async(move |request: AuthRequest| {
                let counter = Arc::clone(&counter);
                async move {
                    // A decision that takes a while, as a lookup would.
                    smol::Timer::after(Duration::from_millis(20)).await;
                    counter.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(request.domain, "global");
                    assert_eq!(request.address, "127.0.0.1");
                    match request.credentials {
                        Credentials::Curve { public_key } if public_key == known => {
                            AuthDecision::allow_as(public_key.to_z85())
                        }
                        _ => AuthDecision::deny("unknown key"),
                    }
                }
            }))
            .build()
            .unwrap();
        let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap();
        let req = Socket::builder(SocketType::Req)
            .curve_client(*server_keys.public(), client_keys.clone())
            .property("X-Role", "tester")
            .build()
            .unwrap();
        req.connect(&endpoint).unwrap();
        req.send("who am I?").await.unwrap();
        let received = within("the request", rep.recv_from()).await.unwrap();
        assert_eq!(received.msg, Msg::from("who am I?"));
        let peer = received.peer.expect("the sender's info");
        assert_eq!(peer.socket_type, SocketType::Req);
        assert_eq!(peer.user_id.as_deref(), Some(known.to_z85().as_bytes()));
        assert_eq!(
            peer.metadata.get("X-Role").map(|v| &v[..]),
            Some(&b"tester"[..])
        );
        rep.send("you are known").await.unwrap();
        assert_eq!(
            within("the reply", req.recv()).await.unwrap(),
            Msg::from("you are known")
        );
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        req.close().await;
        rep.close().await;
    });
}

/// A PULL that is a PLAIN server deciding with `decide_plain`, and a PUSH connected to it
/// as alice with the right password.
fn alice_pushing_to_a_plain_pull() -> (Socket, Socket) {
    let pull = Socket::builder(SocketType::Pull)
        .plain_server()
        .authenticator(Authenticator::new(decide_plain))
        .build()
        .unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = Socket::builder(SocketType::Push)
        .plain_client("alice", "wonderland")
        .build()
        .unwrap();
    push.connect(&endpoint).unwrap();
    (pull, push)
}

#[test]
fn plain_lets_in_the_right_password_with_the_authenticators_metadata() {
    smol::block_on(async {
        let (pull, push) = alice_pushing_to_a_plain_pull();
        push.send("down the hole").await.unwrap();
        let received = within("the message", pull.recv_from()).await.unwrap();
        let peer = received.peer.unwrap();
        assert_eq!(peer.user_id.as_deref(), Some(&b"alice"[..]));
        assert_eq!(
            peer.auth_metadata.get("Department").map(|v| &v[..]),
            Some(&b"rabbit holes"[..])
        );
        push.close().await;
        pull.close().await;
    });
}

/// Sends from a client built by `client` to a PULL built by `server`; whether it arrived
/// within a short wait.
async fn arrives(server: Socket, client: Socket) -> bool {
    let endpoint = server.bind("tcp://127.0.0.1:*").unwrap();
    client.connect(&endpoint).unwrap();
    client.send("knock knock").await.unwrap();
    let got = server.recv_timeout(Duration::from_millis(500)).await;
    client.close().await;
    server.close().await;
    match got {
        Ok(_) => true,
        Err(Error::Timeout(_)) => false,
        Err(err) => panic!("{err}"),
    }
}

#[test]
fn refused_clients_get_nothing_through() {
    smol::block_on(async {
        let plain_server = || {
            Socket::builder(SocketType::Pull)
                .plain_server()
                .authenticator(Authenticator::new(decide_plain))
                .build()
                .unwrap()
        };
        let plain_client = |password: &str| {
            Socket::builder(SocketType::Push)
                .linger(Duration::from_millis(100))
                .plain_client("alice", password)
                .build()
                .unwrap()
        };
        assert!(arrives(plain_server(), plain_client("wonderland")).await);
        assert!(!arrives(plain_server(), plain_client("looking glass")).await);

        let server_keys = CurveKeyPair::generate();
        let curve_server = || {
            Socket::builder(SocketType::Pull)
                .curve_server(server_keys.secret().clone())
                .build()
                .unwrap()
        };
        let curve_client = |server: &CurveKeyPair| {
            Socket::builder(SocketType::Push)
                .linger(Duration::from_millis(100))
                .curve_client(*server.public(), CurveKeyPair::generate())
                .build()
                .unwrap()
        };
        // Without an authenticator, any client holding the server's key gets in.
        assert!(arrives(curve_server(), curve_client(&server_keys)).await);
        assert!(!arrives(curve_server(), curve_client(&CurveKeyPair::generate())).await);
        // NULL against CURVE: a mechanism mismatch, nothing delivered.
        let null = Socket::builder(SocketType::Push)
            .linger(Duration::from_millis(100))
            .build()
            .unwrap();
        assert!(!arrives(curve_server(), null).await);
    });
}

#[test]
fn a_panicking_authenticator_refuses_instead_of_hanging() {
    smol::block_on(async {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        let server = Socket::builder(SocketType::Pull)
            .plain_server()
            .authenticator(Authenticator::new(move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                panic!("the authenticator's own bug")
            }))
            .build()
            .unwrap();
        let client = Socket::builder(SocketType::Push)
            .linger(Duration::from_millis(100))
            .plain_client("alice", "wonderland")
            .build()
            .unwrap();
        assert!(!arrives(server, client).await);
        assert!(calls.load(Ordering::SeqCst) >= 1);
    });
}

#[test]
fn the_senders_info_outlives_its_connection_while_its_messages_wait() {
    smol::block_on(async {
        let (pull, push) = alice_pushing_to_a_plain_pull();
        for i in 0..3 {
            push.send(format!("note {i}")).await.unwrap();
        }
        // Everything delivered, then the sender goes away before anything is read.
        push.close().await;
        within("the sender's connection to close", async {
            while pull.connected_peers() > 0 {
                smol::Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await;
        for i in 0..3 {
            let received = within("a waiting message", pull.recv_from()).await.unwrap();
            assert_eq!(received.msg, Msg::from(format!("note {i}")));
            let peer = received.peer.expect("the closed sender's info");
            assert_eq!(peer.user_id.as_deref(), Some(&b"alice"[..]));
        }
        pull.close().await;
    });
}
