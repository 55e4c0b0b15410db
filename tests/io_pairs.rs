//! Every compatible socket pair over real TCP and IPC on loopback, in both bind/connect
//! arrangements, multipart messages included, on every executor the io layer supports.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use support::runtimes;
use zmq_sansio::Msg;
use zmq_sansio::io::{Runtime, Socket};
use zmq_sansio::proto::SocketType;

const PATIENCE: Duration = Duration::from_secs(10);

fn m(frames: &[&str]) -> Msg {
    Msg::from_frames(frames.iter().map(|f| Bytes::copy_from_slice(f.as_bytes())))
}

fn socket(runtime: &Arc<dyn Runtime>, socket_type: SocketType) -> Socket {
    Socket::builder(socket_type)
        .linger(Duration::from_millis(200))
        .runtime(Arc::clone(runtime))
        .build()
        .unwrap()
}

/// The transports to try: TCP on an ephemeral loopback port, and a fresh IPC path.
fn endpoints(tag: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("zmq-sansio-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    vec![
        "tcp://127.0.0.1:*".to_owned(),
        format!("ipc://{}", dir.join("sock").display()),
    ]
}

/// `a` and `b` connected over `endpoint`, `a` binding when `a_binds`.
async fn connected(
    runtime: &Arc<dyn Runtime>,
    a: SocketType,
    b: SocketType,
    endpoint: &str,
    a_binds: bool,
) -> (Socket, Socket) {
    let (a, b) = (socket(runtime, a), socket(runtime, b));
    let (binder, connector) = if a_binds { (&a, &b) } else { (&b, &a) };
    let bound = binder.bind(endpoint).unwrap();
    connector.connect(&bound).unwrap();
    let ready = async {
        a.wait_for_peers(1).await;
        b.wait_for_peers(1).await;
    };
    smol::future::or(ready, async {
        smol::Timer::after(PATIENCE).await;
        panic!("no handshake over {endpoint}");
    })
    .await;
    (a, b)
}

async fn recv(socket: &Socket) -> Msg {
    socket
        .recv_timeout(PATIENCE)
        .await
        .expect("message within the patience window")
}

/// The scenario on every runtime, over TCP and IPC, with each side binding in turn.
fn both_arrangements(
    tag: &str,
    test: impl Fn(
        Arc<dyn Runtime>,
        String,
        bool,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    for runtime in runtimes::all() {
        for endpoint in endpoints(tag) {
            for a_binds in [true, false] {
                let what = format!("{tag} on {} over {endpoint}", runtime.name);
                runtime.block_on(bounded(
                    &what,
                    test(runtime.runtime.clone(), endpoint.clone(), a_binds),
                ));
            }
        }
    }
}

/// The scenario on every runtime.
fn on_every_runtime(
    tag: &str,
    test: impl Fn(Arc<dyn Runtime>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    for runtime in runtimes::all() {
        let what = format!("{tag} on {}", runtime.name);
        runtime.block_on(bounded(&what, test(runtime.runtime.clone())));
    }
}

/// `test`, or a panic naming it if it takes far too long (a hang fails, never stalls CI).
async fn bounded<T>(what: &str, test: impl std::future::Future<Output = T>) -> T {
    smol::future::or(test, async {
        smol::Timer::after(PATIENCE * 3).await;
        panic!("{what}: not done within {:?}", PATIENCE * 3);
    })
    .await
}

#[test]
fn req_rep() {
    both_arrangements("req-rep", |runtime, endpoint, a_binds| {
        Box::pin(async move {
            let (req, rep) = connected(
                &runtime,
                SocketType::Req,
                SocketType::Rep,
                &endpoint,
                a_binds,
            )
            .await;
            for i in 0..3 {
                req.send(m(&["hello", &i.to_string()])).await.unwrap();
                let request = recv(&rep).await;
                assert_eq!(request, m(&["hello", &i.to_string()]));
                rep.send(m(&["world", &i.to_string()])).await.unwrap();
                assert_eq!(recv(&req).await, m(&["world", &i.to_string()]));
            }
            req.close().await;
            rep.close().await;
        })
    });
}

#[test]
fn req_router_and_dealer_rep_and_dealer_router() {
    both_arrangements("reqrouter", |runtime, endpoint, a_binds| {
        Box::pin(async move {
            let (req, router) = connected(
                &runtime,
                SocketType::Req,
                SocketType::Router,
                &endpoint,
                a_binds,
            )
            .await;
            req.send("q").await.unwrap();
            let got = recv(&router).await;
            assert_eq!(&got.frames()[1..], m(&["", "q"]).frames());
            router
                .send(Msg::from_frames([
                    got.frames()[0].clone(),
                    Bytes::new(),
                    Bytes::from_static(b"a"),
                ]))
                .await
                .unwrap();
            assert_eq!(recv(&req).await, m(&["a"]));
            req.close().await;
            router.close().await;

            let (dealer, rep) = connected(
                &runtime,
                SocketType::Dealer,
                SocketType::Rep,
                &endpoint,
                a_binds,
            )
            .await;
            dealer.send(m(&["", "q"])).await.unwrap();
            assert_eq!(recv(&rep).await, m(&["q"]));
            rep.send("a").await.unwrap();
            assert_eq!(recv(&dealer).await, m(&["", "a"]));
            dealer.close().await;
            rep.close().await;

            let (dealer, router) = connected(
                &runtime,
                SocketType::Dealer,
                SocketType::Router,
                &endpoint,
                a_binds,
            )
            .await;
            dealer.send(m(&["x", "y"])).await.unwrap();
            let got = recv(&router).await;
            assert_eq!(&got.frames()[1..], m(&["x", "y"]).frames());
            router
                .send(Msg::from_frames([
                    got.frames()[0].clone(),
                    Bytes::from_static(b"z"),
                ]))
                .await
                .unwrap();
            assert_eq!(recv(&dealer).await, m(&["z"]));
            dealer.close().await;
            router.close().await;
        })
    });
}

#[test]
fn pub_sub_and_xpub_xsub() {
    both_arrangements("pubsub", |runtime, endpoint, a_binds| {
        Box::pin(async move {
            let (publisher, sub) = connected(
                &runtime,
                SocketType::Pub,
                SocketType::Sub,
                &endpoint,
                a_binds,
            )
            .await;
            sub.subscribe("news").unwrap();
            // Subscriptions travel asynchronously: publish until one arrives.
            let first = loop {
                publisher.send(m(&["news", "probe"])).await.unwrap();
                if let Ok(msg) = sub.recv_timeout(Duration::from_millis(20)).await {
                    break msg;
                }
            };
            assert_eq!(first, m(&["news", "probe"]));
            while sub.recv_timeout(Duration::from_millis(50)).await.is_ok() {}
            publisher.send(m(&["weather", "x"])).await.unwrap();
            publisher.send(m(&["news", "real"])).await.unwrap();
            assert_eq!(recv(&sub).await, m(&["news", "real"]));
            publisher.close().await;
            sub.close().await;

            let (xpub, xsub) = connected(
                &runtime,
                SocketType::XPub,
                SocketType::XSub,
                &endpoint,
                a_binds,
            )
            .await;
            xsub.send(Msg::from(&b"\x01t"[..])).await.unwrap();
            assert_eq!(recv(&xpub).await, Msg::from(&b"\x01t"[..]));
            xpub.send(m(&["t1"])).await.unwrap();
            assert_eq!(recv(&xsub).await, m(&["t1"]));
            xsub.send(m(&["upstream"])).await.unwrap();
            assert_eq!(recv(&xpub).await, m(&["upstream"]));
            xpub.close().await;
            xsub.close().await;
        })
    });
}

#[test]
fn push_pull_and_pair() {
    both_arrangements("pushpull", |runtime, endpoint, a_binds| {
        Box::pin(async move {
            let (push, pull) = connected(
                &runtime,
                SocketType::Push,
                SocketType::Pull,
                &endpoint,
                a_binds,
            )
            .await;
            let big = Bytes::from(vec![0x5Au8; 1 << 20]);
            push.send(Msg::from_frames([Bytes::from_static(b"big"), big.clone()]))
                .await
                .unwrap();
            push.send(Msg::from(Bytes::new())).await.unwrap();
            let got = recv(&pull).await;
            assert_eq!(got.frames()[1], big);
            assert_eq!(recv(&pull).await, Msg::from(Bytes::new()));
            push.close().await;
            pull.close().await;

            let (a, b) = connected(
                &runtime,
                SocketType::Pair,
                SocketType::Pair,
                &endpoint,
                a_binds,
            )
            .await;
            a.send(m(&["ping", "1"])).await.unwrap();
            assert_eq!(recv(&b).await, m(&["ping", "1"]));
            b.send(m(&["pong"])).await.unwrap();
            assert_eq!(recv(&a).await, m(&["pong"]));
            a.close().await;
            b.close().await;
        })
    });
}

#[test]
fn many_messages_keep_order_under_load() {
    on_every_runtime("many messages", |runtime| {
        Box::pin(async move {
            let (push, pull) = connected(
                &runtime,
                SocketType::Push,
                SocketType::Pull,
                "tcp://127.0.0.1:*",
                true,
            )
            .await;
            let sender = async {
                for i in 0..20_000u32 {
                    push.send(Msg::from(i.to_be_bytes().to_vec()))
                        .await
                        .unwrap();
                }
            };
            let receiver = async {
                for i in 0..20_000u32 {
                    let msg = recv(&pull).await;
                    assert_eq!(&msg.frames()[0][..], &i.to_be_bytes()[..]);
                }
            };
            smol::future::zip(sender, receiver).await;
            push.close().await;
            pull.close().await;
        })
    });
}

#[test]
fn ipv6_loopback_and_hostnames() {
    on_every_runtime("ipv6 and host names", |runtime| {
        Box::pin(async move {
            // IPv6 literal in brackets, with an ephemeral port.
            let (push, pull) = connected(
                &runtime,
                SocketType::Push,
                SocketType::Pull,
                "tcp://[::1]:*",
                false,
            )
            .await;
            push.send("over ipv6").await.unwrap();
            assert_eq!(recv(&pull).await, m(&["over ipv6"]));
            push.close().await;
            pull.close().await;

            // A host name, resolved when connecting.
            let rep = socket(&runtime, SocketType::Rep);
            let bound = rep.bind("tcp://127.0.0.1:*").unwrap();
            let port = bound.rsplit(':').next().unwrap();
            let req = socket(&runtime, SocketType::Req);
            req.connect(&format!("tcp://localhost:{port}")).unwrap();
            req.send("by name").await.unwrap();
            let request = recv(&rep).await;
            rep.send(request).await.unwrap();
            assert_eq!(recv(&req).await, m(&["by name"]));
            assert!(bound.starts_with("tcp://127.0.0.1:"), "{bound}");
            req.close().await;
            rep.close().await;
        })
    });
}

#[test]
fn malformed_endpoints_are_clear_errors() {
    let socket = socket(
        &(Arc::new(zmq_sansio::io::SmolRuntime) as Arc<dyn Runtime>),
        SocketType::Pull,
    );
    let cases = [
        ("127.0.0.1:5555", "no transport"),
        ("tcp://127.0.0.1", "no port"),
        ("tcp://127.0.0.1:70000", "invalid port"),
        ("udp://127.0.0.1:1", "unsupported transport"),
    ];
    for (endpoint, expected) in cases {
        let bind = socket.bind(endpoint).unwrap_err().to_string();
        let connect = socket.connect(endpoint).unwrap_err().to_string();
        assert!(
            bind.contains(expected) && connect.contains(expected),
            "{bind} / {connect}"
        );
    }
    let wildcard = socket.connect("tcp://*:5555").unwrap_err().to_string();
    assert!(
        wildcard.contains("only bind accepts wildcards"),
        "{wildcard}"
    );
    let taken = socket.bind("tcp://127.0.0.1:*").unwrap();
    let in_use = socket.bind(&taken).unwrap_err().to_string();
    assert!(
        in_use.contains(&taken) && in_use.to_lowercase().contains("in use"),
        "{in_use}"
    );
    assert!(socket.unbind("tcp://127.0.0.1:1").is_err());
    assert!(socket.disconnect("tcp://127.0.0.1:1").is_err());
    // TLS needs the `tls` feature and, with it, a TLS configuration: either way, a clear
    // error at once (never a connector retrying forever in the background).
    let expected = if cfg!(feature = "tls") {
        ["tls_server", "tls_client"]
    } else {
        ["`tls` cargo feature", "`tls` cargo feature"]
    };
    let bind = socket
        .bind("tls+tcp://127.0.0.1:*")
        .unwrap_err()
        .to_string();
    let connect = socket
        .connect("tls+tcp://127.0.0.1:5555")
        .unwrap_err()
        .to_string();
    assert!(
        bind.contains(expected[0]) && connect.contains(expected[1]),
        "{bind} / {connect}"
    );
}
