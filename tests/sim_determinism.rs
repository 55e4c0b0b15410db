//! Determinism as a checked property: one seed, one run. Each topology runs twice per seed
//! under a fault plan drawn from that seed ([`FaultPlan::random`]: partitions, resets,
//! crashes and restarts, slow links); both runs must give the same trace (every connection,
//! delivery, reset and fault, with its virtual time) and the same deliveries to the
//! application. Several seeds per topology; each run simulates seconds in milliseconds.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_sansio::Msg;
use zmq_sansio::io::{Socket, proxy};
use zmq_sansio::proto::SocketType;
use zmq_sansio::simulation::{FaultPlan, Host, TraceEvent, World};

/// Virtual time each scenario runs; faults fall in its first half.
const RUN: Duration = Duration::from_secs(4);
const SEEDS: [u64; 4] = [1, 2, 3, 0x5eed];

/// What the application saw, in order: "<virtual time> <host> <what>".
#[derive(Clone)]
struct Log {
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    fn new(world: &World) -> Self {
        Self {
            start: world.now(),
            lines: Arc::default(),
        }
    }

    fn push(&self, host: &Host, what: impl std::fmt::Display) {
        let line = format!("{:?} {} {what}", host.now() - self.start, host.name());
        self.lines.lock().unwrap().push(line);
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

/// One run's observable outcome.
#[derive(Debug, PartialEq)]
struct Run {
    trace: Vec<(Duration, TraceEvent)>,
    digest: (u64, u64),
    deliveries: Vec<String>,
}

fn socket(host: &Host, kind: SocketType) -> Socket {
    Socket::builder(kind)
        .runtime(host.runtime())
        .reconnect_interval(Duration::from_millis(20))
        .reconnect_interval_max(Duration::from_millis(200))
        .heartbeat(Duration::from_millis(200), Duration::from_millis(600))
        .build()
        .unwrap()
}

fn text(msg: &Msg) -> String {
    (msg.frames().iter())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect::<Vec<_>>()
        .join("|")
}

/// `fut`, unless `limit` of virtual time passes first (on `host`'s clock).
async fn within<T>(host: &Host, limit: Duration, fut: impl Future<Output = T>) -> Option<T> {
    smol::future::or(async { Some(fut.await) }, async {
        host.sleep(limit).await;
        None
    })
    .await
}

/// A REQ (relaxed, correlated) that asks up to `tries` times, `timeout` each.
async fn ask(host: &Host, req: &Socket, request: &str, tries: u32) -> Option<Msg> {
    for _ in 0..tries {
        let timeout = Duration::from_millis(300);
        if within(host, timeout, req.send(request.to_owned()))
            .await
            .is_none_or(|sent| sent.is_err())
        {
            continue;
        }
        if let Ok(reply) = req.recv_timeout(timeout).await {
            return Some(reply);
        }
    }
    None
}

fn req(host: &Host) -> Socket {
    Socket::builder(SocketType::Req)
        .runtime(host.runtime())
        .req_relaxed(true)
        .req_correlate(true)
        .reconnect_interval(Duration::from_millis(20))
        .build()
        .unwrap()
}

/// Builds the scenario's hosts and programs in `world` (logging to `log`) and returns the
/// names of the hosts faults may hit.
type Scenario = fn(&World, &Log) -> Vec<String>;

fn run(scenario: Scenario, seed: u64) -> Run {
    let world = World::new(seed);
    let log = Log::new(&world);
    let hosts = scenario(&world, &log);
    let names: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let plan = FaultPlan::random(seed, &names, RUN / 2, 4);
    world.apply(&plan);
    world.run_for(RUN);
    Run {
        trace: world.trace(),
        digest: world.trace_digest(),
        deliveries: log.lines(),
    }
}

/// Each seed twice: equal runs; and the runs are not all alike (the trace sees the seed).
fn check(name: &str, scenario: Scenario) {
    let mut digests = Vec::new();
    for seed in SEEDS {
        let wall = Instant::now();
        let first = run(scenario, seed);
        let second = run(scenario, seed);
        assert!(
            !first.deliveries.is_empty(),
            "{name}, seed {seed}: nothing delivered"
        );
        assert_eq!(
            first.deliveries, second.deliveries,
            "{name}, seed {seed}: deliveries differ"
        );
        if let Some(at) = (first.trace.iter().zip(&second.trace)).position(|(a, b)| a != b) {
            panic!(
                "{name}, seed {seed}: traces differ at event {at}: {:?} vs {:?}",
                first.trace[at], second.trace[at]
            );
        }
        assert_eq!(first, second, "{name}, seed {seed}");
        assert!(
            wall.elapsed() < Duration::from_secs(20),
            "{name}, seed {seed}: two runs took {:?}",
            wall.elapsed()
        );
        digests.push(first.digest);
    }
    digests.dedup();
    assert!(digests.len() > 1, "{name}: every seed gave the same run");
}

fn req_rep(world: &World, log: &Log) -> Vec<String> {
    let server_log = log.clone();
    world.host_with_program("server", move |host| {
        let log = server_log.clone();
        async move {
            let rep = socket(&host, SocketType::Rep);
            rep.bind("tcp://server:5555").unwrap();
            while let Ok(request) = rep.recv().await {
                log.push(&host, format!("served {}", text(&request)));
                if rep.send(request).await.is_err() {
                    break;
                }
            }
        }
    });
    let client_log = log.clone();
    world.host_with_program("client", move |host| {
        let log = client_log.clone();
        async move {
            let req = req(&host);
            req.connect("tcp://server:5555").unwrap();
            for i in 0..30 {
                let request = format!("request {i}");
                match ask(&host, &req, &request, 4).await {
                    Some(reply) => log.push(&host, format!("answered {}", text(&reply))),
                    None => log.push(&host, format!("gave up on {request}")),
                }
                host.sleep(Duration::from_millis(50)).await;
            }
        }
    });
    vec!["server".into(), "client".into()]
}

fn router_dealer(world: &World, log: &Log) -> Vec<String> {
    let server_log = log.clone();
    world.host_with_program("server", move |host| {
        let log = server_log.clone();
        async move {
            let router = socket(&host, SocketType::Router);
            router.bind("tcp://server:6000").unwrap();
            while let Ok(msg) = router.recv().await {
                log.push(&host, format!("from {}", text(&msg)));
                let reply = Msg::from_frames([msg.frames()[0].clone(), Bytes::from("ack")]);
                let _ = router.send(reply).await;
            }
        }
    });
    let mut hosts = vec!["server".to_owned()];
    for d in 0..4 {
        let name = format!("dealer{d}");
        let dealer_log = log.clone();
        world.host_with_program(&name, move |host| {
            let log = dealer_log.clone();
            async move {
                let dealer = Socket::builder(SocketType::Dealer)
                    .runtime(host.runtime())
                    .routing_id(host.name())
                    .reconnect_interval(Duration::from_millis(20))
                    .build()
                    .unwrap();
                dealer.connect("tcp://server:6000").unwrap();
                for i in 0..20 {
                    if within(
                        &host,
                        Duration::from_millis(100),
                        dealer.send(format!("{i}")),
                    )
                    .await
                    .is_none()
                    {
                        log.push(&host, format!("could not send {i}"));
                    }
                    while let Ok(reply) = dealer.recv_timeout(Duration::from_millis(60)).await {
                        log.push(&host, text(&reply));
                    }
                }
            }
        });
        hosts.push(name);
    }
    hosts
}

fn pub_sub(world: &World, log: &Log) -> Vec<String> {
    world.host_with_program("hub", |host| async move {
        let publisher = socket(&host, SocketType::Pub);
        publisher.bind("tcp://hub:7000").unwrap();
        within(
            &host,
            Duration::from_millis(200),
            publisher.wait_for_subscribers(10),
        )
        .await;
        for i in 0..100 {
            publisher.send(format!("tick {i}")).await.unwrap();
            host.sleep(Duration::from_millis(20)).await;
        }
    });
    let mut hosts = vec!["hub".to_owned()];
    for s in 0..10 {
        let name = format!("sub{s}");
        let sub_log = log.clone();
        world.host_with_program(&name, move |host| {
            let log = sub_log.clone();
            async move {
                let sub = socket(&host, SocketType::Sub);
                sub.subscribe("tick").unwrap();
                sub.connect("tcp://hub:7000").unwrap();
                while let Ok(msg) = sub.recv().await {
                    log.push(&host, text(&msg));
                }
            }
        });
        hosts.push(name);
    }
    hosts
}

fn push_pull(world: &World, log: &Log) -> Vec<String> {
    let sink_log = log.clone();
    world.host_with_program("ventilator", move |host| {
        let log = sink_log.clone();
        async move {
            let tasks = socket(&host, SocketType::Push);
            tasks.bind("tcp://ventilator:5557").unwrap();
            let sink = socket(&host, SocketType::Pull);
            sink.bind("tcp://ventilator:5558").unwrap();
            let sink_host = host.clone();
            host.spawn(async move {
                while let Ok(result) = sink.recv().await {
                    log.push(&sink_host, text(&result));
                }
            });
            within(&host, Duration::from_millis(200), tasks.wait_for_peers(3)).await;
            for i in 0..90 {
                if within(
                    &host,
                    Duration::from_millis(500),
                    tasks.send(format!("{i}")),
                )
                .await
                .is_none()
                {
                    break;
                }
                host.sleep(Duration::from_millis(20)).await;
            }
        }
    });
    let mut hosts = vec!["ventilator".to_owned()];
    for w in 0..3 {
        let name = format!("worker{w}");
        world.host_with_program(&name, |host| async move {
            let tasks = socket(&host, SocketType::Pull);
            tasks.connect("tcp://ventilator:5557").unwrap();
            let results = socket(&host, SocketType::Push);
            results.connect("tcp://ventilator:5558").unwrap();
            while let Ok(task) = tasks.recv().await {
                host.sleep(Duration::from_millis(20)).await;
                let result = format!("{} by {}", text(&task), host.name());
                if results.send(result).await.is_err() {
                    break;
                }
            }
        });
        hosts.push(name);
    }
    hosts
}

/// A request broker (`io::proxy` between a ROUTER and a DEALER), REP workers behind it and
/// REQ clients in front.
fn broker(world: &World, log: &Log) -> Vec<String> {
    world.host_with_program("broker", |host| async move {
        let frontend = socket(&host, SocketType::Router);
        frontend.bind("tcp://broker:5559").unwrap();
        let backend = socket(&host, SocketType::Dealer);
        backend.bind("tcp://broker:5560").unwrap();
        let _ = proxy(frontend, backend, None).await;
    });
    let mut hosts = vec!["broker".to_owned()];
    for w in 0..2 {
        let name = format!("worker{w}");
        world.host_with_program(&name, |host| async move {
            let rep = socket(&host, SocketType::Rep);
            rep.connect("tcp://broker:5560").unwrap();
            while let Ok(request) = rep.recv().await {
                let reply = format!("{} by {}", text(&request), host.name());
                if rep.send(reply).await.is_err() {
                    break;
                }
            }
        });
        hosts.push(name);
    }
    for c in 0..3 {
        let name = format!("client{c}");
        let client_log = log.clone();
        world.host_with_program(&name, move |host| {
            let log = client_log.clone();
            async move {
                let req = req(&host);
                req.connect("tcp://broker:5559").unwrap();
                for i in 0..15 {
                    let request = format!("{} asks {i}", host.name());
                    match ask(&host, &req, &request, 3).await {
                        Some(reply) => log.push(&host, text(&reply)),
                        None => log.push(&host, format!("gave up on {i}")),
                    }
                    host.sleep(Duration::from_millis(100)).await;
                }
            }
        });
        hosts.push(name);
    }
    hosts
}

#[test]
fn req_rep_replays() {
    check("REQ/REP", req_rep);
}

#[test]
fn router_with_four_dealers_replays() {
    check("ROUTER/DEALER", router_dealer);
}

#[test]
fn pub_sub_with_ten_subscribers_replays() {
    check("PUB/SUB", pub_sub);
}

#[test]
fn push_pull_with_three_workers_replays() {
    check("PUSH/PULL", push_pull);
}

#[test]
fn a_proxy_broker_replays() {
    check("broker", broker);
}
