//! `inproc://` between our sockets: every pattern, connect before bind, high-water marks,
//! rebinding, monitor events, and sockets on different executors and threads.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use support::bounded;
use zmq_sansio::Msg;
use zmq_sansio::io::{MonitorEvent, Socket};
use zmq_sansio::proto::SocketType;

/// A name no other test uses.
fn name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "inproc://test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn m(frames: &[&str]) -> Msg {
    Msg::from_frames(
        frames
            .iter()
            .map(|f| bytes::Bytes::copy_from_slice(f.as_bytes())),
    )
}

#[test]
fn req_rep_round_trips() {
    let endpoint = name();
    let rep = Socket::new(SocketType::Rep);
    assert_eq!(rep.bind(&endpoint).unwrap(), endpoint);
    let req = Socket::new(SocketType::Req);
    req.connect(&endpoint).unwrap();
    bounded("round trips", async {
        for i in 0..100 {
            req.send(format!("ping {i}")).await.unwrap();
            let request = rep.recv().await.unwrap();
            rep.send(request).await.unwrap();
            assert_eq!(req.recv().await.unwrap(), Msg::from(format!("ping {i}")));
        }
    });
    let received = bounded("recv_from", async {
        req.send("who").await.unwrap();
        rep.recv_from().await.unwrap()
    });
    let info = received.peer.expect("the sender's info");
    assert_eq!(info.socket_type, SocketType::Req);
    bounded("close", req.close());
    bounded("close", rep.close());
}

#[test]
fn a_connect_before_the_bind_queues_until_it_comes() {
    let endpoint = name();
    let push = Socket::new(SocketType::Push);
    push.connect(&endpoint).unwrap();
    bounded("queued before the bind", async {
        for i in 0..10 {
            push.send(format!("{i}")).await.unwrap();
        }
    });
    let pull = Socket::new(SocketType::Pull);
    pull.bind(&endpoint).unwrap();
    bounded("delivered after it", async {
        for i in 0..10 {
            assert_eq!(pull.recv().await.unwrap(), Msg::from(format!("{i}")));
        }
    });
    bounded("close", push.close());
    bounded("close", pull.close());
}

#[test]
fn subscriptions_filter_and_multipart_stays_whole() {
    let endpoint = name();
    let publisher = Socket::new(SocketType::Pub);
    publisher.bind(&endpoint).unwrap();
    let sub = Socket::builder(SocketType::Sub)
        .subscribe("weather.")
        .build()
        .unwrap();
    sub.connect(&endpoint).unwrap();
    bounded(
        "the subscription reaches the publisher",
        publisher.wait_for_subscribers(1),
    );
    bounded("filtered", async {
        publisher.send(m(&["sports.", "goal"])).await.unwrap();
        publisher
            .send(m(&["weather.", "sunny", "23"]))
            .await
            .unwrap();
        assert_eq!(sub.recv().await.unwrap(), m(&["weather.", "sunny", "23"]));
    });
    bounded("close", sub.close());
    bounded("close", publisher.close());
}

#[test]
fn router_routes_by_the_dealers_identity() {
    let endpoint = name();
    let router = Socket::new(SocketType::Router);
    router.bind(&endpoint).unwrap();
    let dealers: Vec<Socket> = ["alice", "bob"]
        .iter()
        .map(|id| {
            let dealer = Socket::builder(SocketType::Dealer)
                .routing_id(*id)
                .build()
                .unwrap();
            dealer.connect(&endpoint).unwrap();
            dealer
        })
        .collect();
    bounded("routed", async {
        for dealer in &dealers {
            dealer.send("hello").await.unwrap();
        }
        for _ in 0..2 {
            let msg = router.recv().await.unwrap();
            let id = msg.frames()[0].clone();
            router
                .send(Msg::from_frames([id.clone(), id]))
                .await
                .unwrap();
        }
        assert_eq!(dealers[0].recv().await.unwrap(), Msg::from("alice"));
        assert_eq!(dealers[1].recv().await.unwrap(), Msg::from("bob"));
    });
    for dealer in dealers {
        bounded("close", dealer.close());
    }
    bounded("close", router.close());
}

#[test]
fn high_water_marks_hold_across_the_connection() {
    let endpoint = name();
    let pull = Socket::builder(SocketType::Pull)
        .recv_hwm(5)
        .build()
        .unwrap();
    pull.bind(&endpoint).unwrap();
    let push = Socket::builder(SocketType::Push)
        .send_hwm(5)
        .build()
        .unwrap();
    push.connect(&endpoint).unwrap();
    bounded("connected", push.wait_for_peers(1));
    // Fill both queues: the sender's and the receiver's HWM, and at most one in flight.
    // A send that has not gone through in two seconds is taken as blocked (the margin is
    // for a busy machine: the connection needs only microseconds to move them).
    let mut sent = 0;
    loop {
        let fits = bounded(
            "a send or its timeout",
            smol::future::or(
                async {
                    push.send(format!("{sent}")).await.unwrap();
                    true
                },
                async {
                    smol::Timer::after(Duration::from_secs(2)).await;
                    false
                },
            ),
        );
        if !fits {
            break;
        }
        sent += 1;
        assert!(sent <= 20, "the high-water marks do not hold: {sent} sent");
    }
    assert!(
        (10..=11).contains(&sent),
        "5 + 5 (+1 in flight), got {sent}"
    );
    bounded("all delivered, in order", async {
        for i in 0..sent {
            assert_eq!(pull.recv().await.unwrap(), Msg::from(format!("{i}")));
        }
    });
    bounded("close", push.close());
    bounded("close", pull.close());
}

#[test]
fn a_name_is_bound_once_and_can_be_bound_again_after_unbind() {
    let endpoint = name();
    let first = Socket::new(SocketType::Pull);
    first.bind(&endpoint).unwrap();
    let second = Socket::new(SocketType::Pull);
    let err = second.bind(&endpoint).unwrap_err();
    assert!(err.to_string().contains("already bound"), "{err}");

    let push = Socket::new(SocketType::Push);
    push.connect(&endpoint).unwrap();
    bounded("to the first", async {
        push.send("one").await.unwrap();
        assert_eq!(first.recv().await.unwrap(), Msg::from("one"));
    });
    first.unbind(&endpoint).unwrap();
    second.bind(&endpoint).unwrap();
    bounded("the connector follows the name to the second", async {
        push.send("two").await.unwrap();
        assert_eq!(second.recv().await.unwrap(), Msg::from("two"));
    });
    bounded("close", push.close());
    bounded("close", first.close());
    bounded("close", second.close());
}

#[test]
fn a_closed_binder_frees_its_name() {
    let endpoint = name();
    let first = Socket::new(SocketType::Rep);
    first.bind(&endpoint).unwrap();
    bounded("close", first.close());
    let second = Socket::new(SocketType::Rep);
    second.bind(&endpoint).unwrap();
    bounded("close", second.close());
}

#[test]
fn incompatible_sockets_do_not_connect_and_say_why() {
    let endpoint = name();
    let publisher = Socket::new(SocketType::Pub);
    let mut binder = publisher.monitor();
    publisher.bind(&endpoint).unwrap();
    let req = Socket::new(SocketType::Req);
    req.connect(&endpoint).unwrap();
    let events: Vec<MonitorEvent> = bounded("the refusal", async {
        let mut events = Vec::new();
        while !matches!(events.last(), Some(MonitorEvent::Disconnected { .. })) {
            events.push(binder.next().await.unwrap());
        }
        events
    });
    assert!(
        matches!(
            events.as_slice(),
            [
                MonitorEvent::Listening { .. },
                MonitorEvent::Accepted { .. },
                MonitorEvent::HandshakeFailed { .. },
                MonitorEvent::Disconnected { .. },
            ]
        ),
        "{events:#?}"
    );
    assert_eq!(publisher.connected_peers(), 0);
    bounded("close", req.close());
    bounded("close", publisher.close());
}

#[test]
fn sockets_on_different_threads_and_executors_talk() {
    let endpoint = name();
    let rep = Socket::builder(SocketType::Rep)
        .runtime(zmq_sansio::io::IoThreads::new(1))
        .build()
        .unwrap();
    rep.bind(&endpoint).unwrap();
    let server = {
        let rep = rep.clone();
        std::thread::spawn(move || {
            futures::executor::block_on(async {
                for _ in 0..1000 {
                    let request = rep.recv().await.unwrap();
                    rep.send(request).await.unwrap();
                }
            })
        })
    };
    let req = Socket::new(SocketType::Req);
    req.connect(&endpoint).unwrap();
    bounded("a thousand round trips across threads", async {
        for i in 0..1000 {
            req.send(format!("{i}")).await.unwrap();
            assert_eq!(req.recv().await.unwrap(), Msg::from(format!("{i}")));
        }
    });
    server.join().unwrap();
    bounded("close", req.close());
    bounded("close", rep.close());
}
