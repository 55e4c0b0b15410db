//! The easy classes with PLAIN and CURVE ([`Options`]), over real loopback TCP: for each of
//! the four pairs, the right keys or password deliver, and a wrong server key, an unknown
//! client key, a wrong password or a missing mechanism deliver nothing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smol::future::{or, pending};
use zmq_sansio::easy::{
    Error, Options, PPPuller, PPPusher, PairClient, PairServer, Payload, Publisher, RRClient,
    RRServer, Subscriber,
};
use zmq_sansio::io::{self, Authenticator};
use zmq_sansio::security::{AuthDecision, Credentials, CurveKeyPair, CurvePublicKey};

/// How long something that should happen may take (the machine may be loaded).
const PATIENCE: Duration = Duration::from_secs(20);
/// How long we watch for something that must not happen.
const REFUSED: Duration = Duration::from_millis(1500);
const LOCAL: &str = "tcp://127.0.0.1:*";

fn run<T>(test: impl Future<Output = T>) -> T {
    smol::block_on(async {
        or(test, async {
            smol::Timer::after(PATIENCE * 2).await;
            panic!("test took longer than {:?}", PATIENCE * 2);
        })
        .await
    })
}

/// `Some` of the output if it comes within `wait`.
async fn bounded<T>(wait: Duration, future: impl Future<Output = T>) -> Option<T> {
    or(async { Some(future.await) }, async {
        smol::Timer::after(wait).await;
        None
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Security set-ups: server options, client options.

/// Lets in only the CURVE client with this public key.
fn only_key(known: CurvePublicKey) -> Authenticator {
    Authenticator::new(move |request| match &request.credentials {
        Credentials::Curve { public_key } if *public_key == known => AuthDecision::allow(),
        _ => AuthDecision::deny("unknown key"),
    })
}

/// Lets in only this PLAIN user with this password.
fn only_user(user: &'static str, pass: &'static str) -> Authenticator {
    Authenticator::new(move |request| match &request.credentials {
        Credentials::Plain { username, password }
            if username == user && &password[..] == pass.as_bytes() =>
        {
            AuthDecision::allow_as(user)
        }
        _ => AuthDecision::deny("bad user or password"),
    })
}

/// A CURVE server that lets in only the client's key, and that client.
fn curve_right() -> (Options, Options) {
    let server = CurveKeyPair::generate();
    let client = CurveKeyPair::generate();
    (
        Options::curve_server(server.secret().clone()).authenticator(only_key(*client.public())),
        Options::curve_client(*server.public(), client),
    )
}

/// The client believes the server's public key is another one.
fn curve_wrong_server_key() -> (Options, Options) {
    let server = CurveKeyPair::generate();
    let client = CurveKeyPair::generate();
    let impostor = CurveKeyPair::generate();
    (
        Options::curve_server(server.secret().clone()).authenticator(only_key(*client.public())),
        Options::curve_client(*impostor.public(), client),
    )
}

/// The client knows the server's key, but the server does not know the client's.
fn curve_unknown_client() -> (Options, Options) {
    let server = CurveKeyPair::generate();
    let known = CurveKeyPair::generate();
    let stranger = CurveKeyPair::generate();
    (
        Options::curve_server(server.secret().clone()).authenticator(only_key(*known.public())),
        Options::curve_client(*server.public(), stranger),
    )
}

/// A client without security talking to a CURVE server.
fn curve_server_null_client() -> (Options, Options) {
    let server = CurveKeyPair::generate();
    (
        Options::curve_server(server.secret().clone()),
        Options::default(),
    )
}

fn plain_right() -> (Options, Options) {
    (
        Options::plain_server().authenticator(only_user("admin", "secret")),
        Options::plain_client("admin", "secret"),
    )
}

fn plain_wrong_password() -> (Options, Options) {
    (
        Options::plain_server().authenticator(only_user("admin", "secret")),
        Options::plain_client("admin", "guess"),
    )
}

// ---------------------------------------------------------------------------------------
// One exchange per pair: whether a message got through within `wait`. The binding class
// is the mechanism's server.

async fn pubsub(server: Options, client: Options, wait: Duration) -> bool {
    let publisher = Publisher::bind_with(LOCAL, server).unwrap();
    let subscriber = Subscriber::connect_with(publisher.endpoint(), 1000, client).unwrap();
    // PUB drops what is published before a subscriber has joined: publish until one has.
    let publishing = async {
        loop {
            publisher.publish("secret").await.unwrap();
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    };
    let received = bounded(wait, or(publishing, subscriber.subscribe())).await;
    match received {
        Some(payload) => {
            assert_eq!(payload.unwrap(), Payload::Text("secret".into()));
            true
        }
        None => false,
    }
}

async fn reqrep(server: Options, client: Options, wait: Duration) -> bool {
    let handled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    let server =
        RRServer::bind_with(LOCAL, server)
            .unwrap()
            .with_handler(move |request: String| {
                count.fetch_add(1, Ordering::SeqCst);
                format!("Echo: {request}")
            });
    let client = RRClient::connect_with(server.endpoint(), client)
        .unwrap()
        .with_timeout(wait);
    let _serving = smol::spawn(async move { server.run().await });
    let reply = bounded(wait * 2, client.request_text("secret"))
        .await
        .expect("the client's timeout bounds the request");
    match reply {
        Ok(reply) => {
            assert_eq!(reply, "Echo: secret");
            true
        }
        Err(Error::NoReply { attempts: 1, .. }) => {
            assert_eq!(
                handled.load(Ordering::SeqCst),
                0,
                "the server saw the request"
            );
            false
        }
        Err(other) => panic!("unexpected error: {other}"),
    }
}

async fn pipeline(server: Options, client: Options, wait: Duration) -> bool {
    let pusher = PPPusher::bind_with(LOCAL, server).unwrap();
    let puller = PPPuller::connect_with(pusher.endpoint(), client).unwrap();
    let pushing = async {
        pusher.push("secret").await.unwrap();
        pending().await
    };
    match bounded(wait, or(pushing, puller.pull())).await {
        Some(msg) => {
            assert_eq!(msg.unwrap().frames()[0], "secret");
            true
        }
        None => false,
    }
}

async fn pair(server: Options, client: Options, wait: Duration) -> bool {
    let handled = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&handled);
    let server = PairServer::bind_with(LOCAL, server)
        .unwrap()
        .with_handler(move |msg: String| {
            count.fetch_add(1, Ordering::SeqCst);
            msg.to_uppercase()
        });
    let client = PairClient::connect_with(server.endpoint(), client)
        .unwrap()
        .with_timeout(wait);
    let _serving = smol::spawn(async move { server.run().await });
    // PAIR's send may wait for a peer; the outer bound covers it.
    match bounded(wait * 2, client.request_text("secret")).await {
        Some(Ok(reply)) => {
            assert_eq!(reply, "SECRET");
            true
        }
        None | Some(Err(Error::Socket(io::Error::Timeout(_)))) => {
            assert_eq!(
                handled.load(Ordering::SeqCst),
                0,
                "the server saw the message"
            );
            false
        }
        Some(Err(other)) => panic!("unexpected error: {other}"),
    }
}

// ---------------------------------------------------------------------------------------

macro_rules! security_tests {
    ($name:ident, $exchange:ident) => {
        mod $name {
            use super::*;

            #[test]
            fn curve_with_the_right_keys_delivers() {
                let (server, client) = curve_right();
                assert!(run($exchange(server, client, PATIENCE)));
            }

            #[test]
            fn curve_with_a_wrong_server_key_delivers_nothing() {
                let (server, client) = curve_wrong_server_key();
                assert!(!run($exchange(server, client, REFUSED)));
            }

            #[test]
            fn curve_client_the_authenticator_does_not_know_delivers_nothing() {
                let (server, client) = curve_unknown_client();
                assert!(!run($exchange(server, client, REFUSED)));
            }

            #[test]
            fn client_without_security_gets_nothing_from_a_curve_server() {
                let (server, client) = curve_server_null_client();
                assert!(!run($exchange(server, client, REFUSED)));
            }

            #[test]
            fn plain_with_the_right_password_delivers() {
                let (server, client) = plain_right();
                assert!(run($exchange(server, client, PATIENCE)));
            }

            #[test]
            fn plain_with_a_wrong_password_delivers_nothing() {
                let (server, client) = plain_wrong_password();
                assert!(!run($exchange(server, client, REFUSED)));
            }
        }
    };
}

security_tests!(publisher_subscriber, pubsub);
security_tests!(rr_server_client, reqrep);
security_tests!(pusher_puller, pipeline);
security_tests!(pair_server_client, pair);

/// The Python-style constructors' `*_with` twins (port and host forms) take the same
/// options.
#[test]
fn port_constructors_take_options() {
    run(async {
        let (server_options, client_options) = curve_right();
        let server = RRServer::new_with(0, server_options).unwrap();
        let port: u16 = server
            .endpoint()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let client = RRClient::new_with("127.0.0.1", port, client_options)
            .unwrap()
            .with_timeout(PATIENCE);
        let _serving = smol::spawn(async move { server.run().await });
        assert_eq!(client.request_text("hi").await.unwrap(), "hi");
    });
}

/// A lazy-pirate retry reconnects with the same credentials.
#[test]
fn rr_client_retries_keep_their_credentials() {
    run(async {
        let (server_options, client_options) = plain_right();
        let server = RRServer::bind_with(LOCAL, server_options).unwrap();
        let endpoint = server.endpoint().to_owned();
        // The first attempt has nobody to answer it: the server starts serving only after
        // the client gave up once.
        let client = RRClient::connect_with(&endpoint, client_options)
            .unwrap()
            .with_timeout(Duration::from_millis(300))
            .with_retries(50);
        let serving = async {
            smol::Timer::after(Duration::from_millis(700)).await;
            server.run().await.unwrap();
            unreachable!("the server serves until dropped")
        };
        let reply = or(serving, client.request_text("again")).await.unwrap();
        assert_eq!(reply, "again");
    });
}

/// PLAIN credentials longer than 255 octets are refused when the socket is built.
#[test]
fn overlong_plain_credentials_are_an_error() {
    let err = RRClient::connect_with(LOCAL, Options::plain_client("x".repeat(256), "p"))
        .expect_err("a 256-octet user name");
    assert!(matches!(err, Error::Socket(_)), "{err:?}");
}
