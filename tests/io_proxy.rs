//! `io::proxy` and `io::SteerableProxy` over loopback TCP: an XSUB/XPUB forwarder and a
//! ROUTER/DEALER broker with our sockets and with libzmq's (the `zmq` crate) on both
//! sides, steering from Rust and through a control socket, the capture, and how a proxy
//! ends.

mod support;

use std::time::Duration;

use support::{PATIENCE, bounded};
use zmq_sansio::Msg;
use zmq_sansio::io::{ProxyError, ProxySocket, Socket, SteerableProxy, proxy};
use zmq_sansio::proto::SocketType;
use zmq_sansio::proxy::{State, Statistics};

const ANY_PORT: &str = "tcp://127.0.0.1:*";

fn text(msg: &Msg) -> String {
    msg.frames()
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<Vec<_>>()
        .join("|")
}

/// Binds a socket on an ephemeral port; returns it and the endpoint.
fn bound(socket_type: SocketType) -> (Socket, String) {
    let socket = Socket::new(socket_type);
    let endpoint = socket.bind(ANY_PORT).unwrap();
    (socket, endpoint)
}

fn connected(socket_type: SocketType, endpoint: &str) -> Socket {
    let socket = Socket::new(socket_type);
    socket.connect(endpoint).unwrap();
    socket
}

/// A forwarder: XSUB bound for publishers, verbose XPUB bound for subscribers.
fn forwarder() -> (SteerableProxy, String, String) {
    let (xsub, publishers) = bound(SocketType::XSub);
    let xpub = Socket::builder(SocketType::XPub)
        .xpub_verbose(true)
        .build()
        .unwrap();
    let subscribers = xpub.bind(ANY_PORT).unwrap();
    (SteerableProxy::new(xsub, xpub), publishers, subscribers)
}

/// A broker: ROUTER bound for clients, DEALER bound for workers.
fn broker() -> (SteerableProxy, String, String) {
    let (router, clients) = bound(SocketType::Router);
    let (dealer, workers) = bound(SocketType::Dealer);
    (SteerableProxy::new(router, dealer), clients, workers)
}

/// A REP worker that answers "<request> by <name>" until its socket closes.
fn worker(endpoint: &str, name: &str) -> (Socket, smol::Task<()>) {
    let rep = connected(SocketType::Rep, endpoint);
    let serving = rep.clone();
    let name = name.to_owned();
    let task = smol::spawn(async move {
        while let Ok(request) = serving.recv().await {
            let reply = format!("{} by {name}", text(&request));
            if serving.send(reply).await.is_err() {
                return;
            }
        }
    });
    (rep, task)
}

#[test]
fn a_forwarder_carries_subscriptions_and_cancels_up_and_messages_down() {
    let (proxy, publishers, subscribers) = forwarder();
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    // An XPUB upstream shows what reaches the publisher: the forwarded subscriptions.
    let publisher = Socket::builder(SocketType::XPub)
        .xpub_verbose(true)
        .build()
        .unwrap();
    publisher.connect(&publishers).unwrap();
    let news = connected(SocketType::Sub, &subscribers);
    let weather = connected(SocketType::Sub, &subscribers);
    news.subscribe("news").unwrap();
    weather.subscribe("weather").unwrap();
    bounded("subscriptions forwarded", async {
        let mut seen = vec![
            text(&publisher.recv().await.unwrap()),
            text(&publisher.recv().await.unwrap()),
        ];
        seen.sort();
        assert_eq!(seen, ["\u{1}news", "\u{1}weather"]);
    });

    bounded("messages forwarded", async {
        for topic in ["news 1", "sports 1", "weather 1", "news 2"] {
            publisher.send(topic).await.unwrap();
        }
        assert_eq!(text(&news.recv().await.unwrap()), "news 1");
        assert_eq!(text(&news.recv().await.unwrap()), "news 2");
        assert_eq!(text(&weather.recv().await.unwrap()), "weather 1");
    });

    news.unsubscribe("news").unwrap();
    bounded("cancel forwarded", async {
        assert_eq!(text(&publisher.recv().await.unwrap()), "\u{0}news");
    });
    // The upstream XPUB took "news 1", "news 2", "weather 1" and the two subscriptions;
    // "sports 1" was dropped at the publisher, which nobody asked for it.
    let stats = control.statistics();
    assert_eq!(stats.frontend.received.frames, 3);
    assert_eq!(stats.backend.sent, stats.frontend.received);
    assert_eq!(stats.backend.received.frames, 3);
    control.terminate();
    bounded("terminated", running).unwrap();
}

#[test]
fn a_broker_serves_several_req_clients_with_several_rep_workers() {
    let (proxy, clients, workers) = broker();
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    let workers: Vec<_> = (0..3).map(|w| worker(&workers, &format!("w{w}"))).collect();
    let clients: Vec<Socket> = (0..5)
        .map(|_| connected(SocketType::Req, &clients))
        .collect();
    let mut served_by = std::collections::BTreeSet::new();
    bounded("every request answered", async {
        for round in 0..10 {
            for (c, client) in clients.iter().enumerate() {
                client.send(format!("c{c} r{round}")).await.unwrap();
            }
            for (c, client) in clients.iter().enumerate() {
                let reply = text(&client.recv().await.unwrap());
                let (request, worker) = reply.split_once(" by ").unwrap();
                assert_eq!(request, format!("c{c} r{round}"));
                served_by.insert(worker.to_owned());
            }
        }
    });
    assert_eq!(served_by.len(), 3, "every worker served: {served_by:?}");
    let stats = control.statistics();
    // 50 requests of three frames each (routing id, delimiter, body), each way.
    assert_eq!(stats.frontend.received.frames, 150);
    assert_eq!(stats.frontend.sent.frames, 150);
    control.terminate();
    bounded("terminated", running).unwrap();
    drop(workers);
}

#[test]
fn pause_holds_messages_resume_releases_them_and_terminate_ends_the_proxy() {
    let (proxy, clients, workers) = broker();
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    let _worker = worker(&workers, "w");
    let client = connected(SocketType::Req, &clients);
    bounded("first reply", async {
        client.send("one").await.unwrap();
        assert_eq!(text(&client.recv().await.unwrap()), "one by w");
    });
    let before = control.statistics();

    control.pause();
    assert_eq!(control.state(), State::Paused);
    bounded("request sent", client.send("two")).unwrap();
    // Nothing may come while paused: this wait ends by its timeout.
    let held = bounded("paused", client.recv_timeout(Duration::from_millis(300)));
    assert!(held.is_err(), "a paused proxy forwarded: {held:?}");
    assert_eq!(control.statistics(), before);

    control.resume();
    bounded("reply after resume", async {
        assert_eq!(text(&client.recv().await.unwrap()), "two by w");
    });
    let after = control.statistics();
    assert_eq!(
        after.frontend.received.frames,
        before.frontend.received.frames + 3
    );
    // The same envelope and a reply as long as the first.
    assert_eq!(after.frontend.sent.octets, 2 * before.frontend.sent.octets);

    control.terminate();
    assert!(matches!(bounded("terminated", running), Ok(())));
}

#[test]
fn a_control_socket_takes_libzmqs_command_strings() {
    let (proxy, clients, workers) = broker();
    let (control_rep, control_endpoint) = bound(SocketType::Rep);
    let running = smol::spawn(proxy.control_socket(control_rep).run());
    let _worker = worker(&workers, "w");
    let client = connected(SocketType::Req, &clients);
    let control = connected(SocketType::Req, &control_endpoint);
    bounded("steered through the control socket", async {
        client.send("one").await.unwrap();
        client.recv().await.unwrap();

        control.send("STATISTICS").await.unwrap();
        let reply = control.recv().await.unwrap();
        assert_eq!(reply.len(), 8);
        let stats = Statistics::from_msg(&reply).unwrap();
        assert_eq!(stats.frontend.received.frames, 3);
        assert_eq!(
            stats.frontend.sent.octets,
            stats.frontend.received.octets + 5
        );

        control.send("PAUSE").await.unwrap();
        assert_eq!(control.recv().await.unwrap(), Msg::from(""));
        client.send("two").await.unwrap();
        assert!(
            client
                .recv_timeout(Duration::from_millis(300))
                .await
                .is_err()
        );
        control.send("RESUME").await.unwrap();
        assert_eq!(control.recv().await.unwrap(), Msg::from(""));
        assert_eq!(text(&client.recv().await.unwrap()), "two by w");

        control.send("no such command").await.unwrap();
        assert_eq!(control.recv().await.unwrap(), Msg::from(""));
        control.send("TERMINATE").await.unwrap();
        assert_eq!(control.recv().await.unwrap(), Msg::from(""));
        running.await.unwrap();
    });
}

#[test]
fn the_capture_gets_a_copy_of_everything_forwarded_in_order() {
    let (pull, producers) = bound(SocketType::Pull);
    let (push, consumers) = bound(SocketType::Push);
    let (capture, taps) = bound(SocketType::Push);
    let running = smol::spawn(proxy(pull, push, Some(capture)));
    let producer = connected(SocketType::Push, &producers);
    let consumer = connected(SocketType::Pull, &consumers);
    let tap = connected(SocketType::Pull, &taps);
    let sent: Vec<Msg> = (0..200)
        .map(|i| Msg::from_frames([format!("job {i}"), "x".repeat(i)]))
        .collect();
    bounded("forwarded and captured", async {
        for msg in &sent {
            producer.send(msg.clone()).await.unwrap();
        }
        for msg in &sent {
            assert_eq!(&consumer.recv().await.unwrap(), msg);
            assert_eq!(&tap.recv().await.unwrap(), msg);
        }
    });
    drop(running);
}

#[test]
fn a_slow_backend_holds_the_frontend_back_without_losing_anything() {
    // Tiny queues: the proxy holds one message and its sources queue the rest.
    let pull = Socket::builder(SocketType::Pull)
        .recv_hwm(2)
        .build()
        .unwrap();
    let producers = pull.bind(ANY_PORT).unwrap();
    let push = Socket::builder(SocketType::Push)
        .send_hwm(2)
        .build()
        .unwrap();
    let consumers = push.bind(ANY_PORT).unwrap();
    let running = smol::spawn(proxy(pull, push, None));
    let producer = Socket::builder(SocketType::Push)
        .send_hwm(2)
        .build()
        .unwrap();
    producer.connect(&producers).unwrap();
    let consumer = Socket::builder(SocketType::Pull)
        .recv_hwm(2)
        .build()
        .unwrap();
    consumer.connect(&consumers).unwrap();
    let total = 2000;
    let sending = smol::spawn(async move {
        for i in 0..total {
            producer.send(format!("{i}")).await.unwrap();
        }
        producer
    });
    bounded("all received in order", async {
        for i in 0..total {
            assert_eq!(text(&consumer.recv().await.unwrap()), format!("{i}"));
        }
    });
    bounded("sender done", sending);
    drop(running);
}

#[test]
fn closing_a_socket_ends_the_proxy_with_the_reason() {
    let (router, _) = bound(SocketType::Router);
    let (dealer, _) = bound(SocketType::Dealer);
    let running = smol::spawn(proxy(router.clone(), dealer, None));
    bounded("closed", router.close());
    match bounded("proxy ended", running) {
        Err(ProxyError::Closed(ProxySocket::Frontend)) => {}
        other => panic!("expected the frontend closed, got {other:?}"),
    }
}

/// A libzmq socket with bounded waits, so a failure never hangs the test.
fn libzmq(ctx: &zmq::Context, kind: zmq::SocketType) -> zmq::Socket {
    let socket = ctx.socket(kind).unwrap();
    socket.set_linger(0).unwrap();
    socket.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    socket.set_sndtimeo(PATIENCE.as_millis() as i32).unwrap();
    socket
}

#[test]
fn libzmq_req_clients_and_rep_workers_through_our_broker() {
    let (proxy, clients, workers) = broker();
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    let ctx = zmq::Context::new();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let rep = libzmq(&ctx, zmq::REP);
            rep.connect(&workers).unwrap();
            std::thread::spawn(move || {
                // Until the test ends: then the receive times out.
                while let Ok(request) = rep.recv_bytes(0) {
                    let mut reply = request;
                    reply.extend_from_slice(format!(" by {w}").as_bytes());
                    rep.send(reply, 0).unwrap();
                }
            })
        })
        .collect();
    let clients: Vec<_> = (0..3)
        .map(|c| {
            let req = libzmq(&ctx, zmq::REQ);
            req.connect(&clients).unwrap();
            std::thread::spawn(move || {
                for i in 0..20 {
                    let request = format!("c{c} {i}");
                    req.send(request.as_bytes(), 0).unwrap();
                    let reply = req.recv_string(0).unwrap().unwrap();
                    assert!(reply.starts_with(&format!("{request} by ")), "{reply}");
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(control.statistics().frontend.received.frames, 3 * 20 * 3);
    control.terminate();
    bounded("terminated", running).unwrap();
    drop(workers); // detached; they end with their receive timeout
}

#[test]
fn libzmq_pub_and_sub_through_our_forwarder() {
    let (proxy, publishers, subscribers) = forwarder();
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    let ctx = zmq::Context::new();
    let publisher = libzmq(&ctx, zmq::PUB);
    publisher.connect(&publishers).unwrap();
    let subscriber = libzmq(&ctx, zmq::SUB);
    subscriber.set_subscribe(b"weather").unwrap();
    subscriber.connect(&subscribers).unwrap();
    // The subscription travels SUB → XPUB → proxy → XSUB → PUB; until it lands, libzmq's
    // PUB drops. Publish probes until one arrives: each probe is a message, not a sleep.
    subscriber.set_rcvtimeo(50).unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        publisher.send("weather probe", 0).unwrap();
        if subscriber.recv_bytes(0).is_ok() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no probe arrived");
    }
    subscriber
        .set_rcvtimeo(PATIENCE.as_millis() as i32)
        .unwrap();
    // Drain probes still on their way, then a clean sequence.
    publisher.send("weather end-of-probes", 0).unwrap();
    while subscriber.recv_string(0).unwrap().unwrap() != "weather end-of-probes" {}
    for i in 0..50 {
        publisher.send(format!("sports {i}").as_bytes(), 0).unwrap();
        publisher
            .send(format!("weather {i}").as_bytes(), 0)
            .unwrap();
    }
    for i in 0..50 {
        assert_eq!(
            subscriber.recv_string(0).unwrap().unwrap(),
            format!("weather {i}")
        );
    }
    control.terminate();
    bounded("terminated", running).unwrap();
}

/// Counts how often the future inside is polled.
struct Counted<F> {
    inner: std::pin::Pin<Box<F>>,
    polls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl<F: std::future::Future> std::future::Future for Counted<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn an_idle_or_paused_proxy_sleeps() {
    let (proxy, clients, workers) = broker();
    let control = proxy.control();
    let polls = std::sync::Arc::default();
    let running = smol::spawn(Counted {
        inner: Box::pin(proxy.run()),
        polls: std::sync::Arc::clone(&polls),
    });
    let _worker = worker(&workers, "w");
    let client = connected(SocketType::Req, &clients);
    bounded("a round trip", async {
        client.send("one").await.unwrap();
        client.recv().await.unwrap();
    });
    let count = || polls.load(std::sync::atomic::Ordering::Relaxed);
    // Both sides are waited on at once; with nothing arriving, nothing polls the proxy
    // (a few late wake-ups from the round trip may land; a busy loop polls thousands).
    let before = count();
    bounded("idle", smol::Timer::after(Duration::from_millis(200)));
    assert!(
        count() <= before + 10,
        "polled {} times while idle",
        count() - before
    );
    control.pause();
    let before = count();
    bounded("paused", smol::Timer::after(Duration::from_millis(200)));
    assert!(
        count() <= before + 10,
        "polled {} times while paused",
        count() - before
    );
    control.terminate();
    bounded("terminated", running).unwrap();
}
