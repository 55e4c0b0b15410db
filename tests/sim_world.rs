//! The simulated world: io sockets and the easy classes on simulated hosts, under virtual
//! time, with faults; and determinism (one seed, one trace).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use zmq_sansio::Msg;
use zmq_sansio::easy::{Options, RRClient, RRServer};
use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;
use zmq_sansio::simulation::{Fault, FaultPlan, Host, World};

fn socket(host: &Host, kind: SocketType) -> Socket {
    Socket::builder(kind)
        .runtime(host.runtime())
        .build()
        .unwrap()
}

/// An echo server on `host`, bound at `endpoint`, counting requests.
fn echo(host: &Host, endpoint: &str, served: Arc<AtomicU64>) {
    let rep = socket(host, SocketType::Rep);
    rep.bind(endpoint).unwrap();
    host.spawn(async move {
        while let Ok(request) = rep.recv().await {
            served.fetch_add(1, Ordering::Relaxed);
            if rep.send(request).await.is_err() {
                break;
            }
        }
    });
}

#[test]
fn a_thousand_round_trips_take_virtual_milliseconds() {
    let world = World::new(1);
    let server = world.host("server");
    let client = world.host("client");
    let served = Arc::new(AtomicU64::new(0));
    echo(&server, "tcp://server:5555", Arc::clone(&served));
    let req = socket(&client, SocketType::Req);
    req.connect("tcp://server:5555").unwrap();
    world.block_on(async {
        for i in 0..1000 {
            req.send(format!("{i}")).await.unwrap();
            assert_eq!(req.recv().await.unwrap(), Msg::from(format!("{i}")));
        }
    });
    assert_eq!(served.load(Ordering::Relaxed), 1000);
    // Two one-way latencies (50 µs each) per round trip, plus the handshake.
    let elapsed = world.elapsed();
    assert!(
        elapsed >= Duration::from_millis(100) && elapsed < Duration::from_millis(120),
        "{elapsed:?}"
    );
}

#[test]
fn timeouts_and_heartbeats_follow_virtual_time() {
    let world = World::new(2);
    let server = world.host("server");
    let client = world.host("client");
    // A server that takes requests and never answers.
    let rep = socket(&server, SocketType::Rep);
    rep.bind("tcp://server:5555").unwrap();
    server.spawn(async move {
        let _request = rep.recv().await;
        std::future::pending::<()>().await;
    });
    let req = socket(&client, SocketType::Req);
    req.connect("tcp://server:5555").unwrap();
    let before = world.elapsed();
    let result = world.block_on(async {
        req.send("anyone?").await.unwrap();
        req.recv_timeout(Duration::from_secs(30)).await
    });
    assert!(matches!(result, Err(zmq_sansio::io::Error::Timeout(_))));
    let waited = world.elapsed() - before;
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_millis(30_010),
        "{waited:?}"
    );
}

#[test]
fn a_partition_is_noticed_by_heartbeats_and_healed_by_reconnecting() {
    let world = World::new(3);
    let server = world.host("server");
    let client = world.host("client");
    let router = Socket::builder(SocketType::Router)
        .runtime(server.runtime())
        .heartbeat(Duration::from_secs(1), Duration::from_secs(3))
        .build()
        .unwrap();
    router.bind("tcp://server:7000").unwrap();
    let dealer = Socket::builder(SocketType::Dealer)
        .runtime(client.runtime())
        .heartbeat(Duration::from_secs(1), Duration::from_secs(3))
        .build()
        .unwrap();
    dealer.connect("tcp://server:7000").unwrap();
    world.block_on(async {
        dealer.send("before").await.unwrap();
        assert_eq!(router.recv().await.unwrap().frames()[1], "before");
    });
    world.partition(&server, &client, true);
    world.run_for(Duration::from_secs(10));
    assert_eq!(
        router.connected_peers(),
        0,
        "heartbeats ended the silent connection"
    );
    world.partition(&server, &client, false);
    world.block_on(async {
        dealer.send("after").await.unwrap();
        assert_eq!(router.recv().await.unwrap().frames()[1], "after");
    });
}

/// The worked example: an `RRClient` with a timeout and retries against an
/// `RRServer` that crashes and restarts under a partition; every request is answered and
/// served at least once.
fn rr_under_faults(seed: u64) -> (u64, (u64, u64)) {
    let world = World::new(seed);
    let served = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&served);
    let server = world.host_with_program("server", move |host| {
        let served = Arc::clone(&counter);
        async move {
            let options = Options::new().runtime(host.runtime());
            let server = RRServer::bind_with("tcp://server:5555", options)
                .unwrap()
                .with_handler(move |request: String| {
                    served.fetch_add(1, Ordering::Relaxed);
                    request
                });
            let _ = server.run().await;
        }
    });
    let client = world.host("client");
    let plan = FaultPlan::new()
        .at(Duration::from_secs(2), Fault::Crash("server".into()))
        .at(
            Duration::from_secs(3),
            Fault::Partition("server".into(), "client".into()),
        )
        .at(Duration::from_secs(5), Fault::Restart("server".into()))
        .at(
            Duration::from_secs(8),
            Fault::Heal("server".into(), "client".into()),
        );
    world.apply(&plan);
    let rr = RRClient::connect_with(
        "tcp://server:5555",
        Options::new().runtime(client.runtime()),
    )
    .unwrap()
    .with_timeout(Duration::from_millis(500))
    .with_retries(100);
    world.block_on(async {
        for i in 0..40 {
            let text = format!("request {i}");
            assert_eq!(rr.request_text(&text).await.unwrap(), text);
            world.sleep(Duration::from_millis(250)).await;
        }
    });
    assert!(server.is_alive());
    (served.load(Ordering::Relaxed), world.trace_digest())
}

#[test]
fn requests_survive_a_crash_and_a_partition_at_least_once() {
    let (served, _) = rr_under_faults(11);
    assert!(served >= 40, "every request served at least once: {served}");
}

#[test]
fn one_seed_replays_the_same_run() {
    for seed in [11, 12] {
        let first = rr_under_faults(seed);
        let second = rr_under_faults(seed);
        assert_eq!(first, second, "seed {seed}");
    }
}

#[test]
fn pub_sub_with_ten_subscribers_is_deterministic() {
    let run = |seed: u64| {
        let world = World::new(seed);
        let hub = world.host("hub");
        let publisher = socket(&hub, SocketType::Pub);
        publisher.bind("tcp://hub:6000").unwrap();
        let received = Arc::new(AtomicU64::new(0));
        let subscribers: Vec<Socket> = (0..10)
            .map(|i| {
                let host = world.host(&format!("sub{i}"));
                let sub = Socket::builder(SocketType::Sub)
                    .runtime(host.runtime())
                    .subscribe("tick")
                    .build()
                    .unwrap();
                sub.connect("tcp://hub:6000").unwrap();
                let sub2 = sub.clone();
                let received = Arc::clone(&received);
                host.spawn(async move {
                    while sub2.recv().await.is_ok() {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                });
                sub
            })
            .collect();
        world.block_on(async {
            publisher.wait_for_subscribers(10).await;
            for i in 0..100 {
                publisher.send(format!("tick {i}")).await.unwrap();
                world.sleep(Duration::from_millis(10)).await;
            }
        });
        world.run_for(Duration::from_millis(100));
        drop(subscribers);
        (received.load(Ordering::Relaxed), world.trace_digest())
    };
    let first = run(5);
    assert_eq!(first.0, 1000, "every subscriber got every tick");
    assert_eq!(run(5), first);
}

#[test]
fn dropping_a_world_frees_its_tasks_and_sockets() {
    let sentinel = Arc::new(());
    {
        let world = World::new(9);
        let server = world.host("server");
        let client = world.host("client");
        echo(&server, "tcp://server:5555", Arc::new(AtomicU64::new(0)));
        let req = socket(&client, SocketType::Req);
        req.connect("tcp://server:5555").unwrap();
        world.apply(&FaultPlan::new().at(Duration::from_secs(60), Fault::Crash("server".into())));
        let held = Arc::clone(&sentinel);
        client.spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        world.block_on(async {
            req.send("ping").await.unwrap();
            req.recv().await.unwrap();
        });
        assert_eq!(Arc::strong_count(&sentinel), 2, "the task holds it");
    }
    assert_eq!(
        Arc::strong_count(&sentinel),
        1,
        "the world's tasks were dropped with it"
    );
}

/// Every easy class runs unchanged on simulated hosts: Publisher and Subscriber, PPPusher
/// and PPPuller, PairServer and PairClient (RRServer and RRClient are above).
#[test]
fn every_easy_class_runs_in_a_world() {
    use zmq_sansio::easy::{
        PPPuller, PPPusher, PairClient, PairServer, Payload, Publisher, Subscriber,
    };
    let world = World::new(21);
    let a = world.host("a");
    let b = world.host("b");
    let on = |host: &Host| Options::new().runtime(host.runtime());

    let publisher = Publisher::bind_with("tcp://a:5556", on(&a)).unwrap();
    let subscriber = Subscriber::connect_with("tcp://a:5556", 1000, on(&b)).unwrap();

    let pusher = PPPusher::bind_with("tcp://a:5557", on(&a)).unwrap();
    let pulled = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&pulled);
    let puller = PPPuller::connect_with("tcp://a:5557", on(&b))
        .unwrap()
        .with_handler(move |text: String| {
            counter.fetch_add(text.len() as u64, Ordering::Relaxed);
        });
    let pulling = puller.stop_handle();
    b.spawn(async move {
        let _ = puller.run().await;
    });

    let pair_server = PairServer::bind_with("tcp://a:5558", on(&a))
        .unwrap()
        .with_handler(|text: String| text.to_uppercase());
    a.spawn(async move {
        let _ = pair_server.run().await;
    });
    let pair_client = PairClient::connect_with("tcp://a:5558", on(&b)).unwrap();

    world.block_on(async {
        publisher.wait_for_subscribers(1).await;
        publisher.publish("hello from a").await.unwrap();
        assert_eq!(
            subscriber.subscribe().await.unwrap(),
            Payload::Text("hello from a".into())
        );
        for _ in 0..10 {
            pusher.push("12345").await.unwrap();
        }
        let reply = pair_client.request("shout").await.unwrap();
        assert_eq!(reply.frames()[0], "SHOUT");
        while pulled.load(Ordering::Relaxed) < 50 {
            world.sleep(Duration::from_millis(1)).await;
        }
    });
    pulling.stop();
    assert_eq!(
        pulled.load(Ordering::Relaxed),
        50,
        "ten pushes of five octets"
    );
}
