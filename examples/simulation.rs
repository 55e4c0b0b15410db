//! Testing an application in a simulated world (`zmq_sansio::simulation`): three small
//! distributed applications, each run for seconds of virtual time under faults, in
//! milliseconds of wall time, with the guarantee it is built for checked at the end.
//!
//! `cargo run --example simulation [seed]`
//!
//! 1. Request/reply: an `RRClient` with a timeout and retries against an `RRServer` that
//!    crashes and restarts while partitioned from it: every request is answered, each is
//!    served at least once (some twice: retries make delivery at-least-once).
//! 2. PUB/SUB: a subscriber that joins late misses what was published before its
//!    subscription arrived (the "slow joiner"). Waiting for the subscription fixes it for a
//!    subscriber known in advance; a snapshot (the guide's "clone" pattern) gives a
//!    subscriber that joins at any time the whole state, with no gap after it.
//! 3. PUSH/PULL: plain PUSH/PULL loses the tasks a crashed worker held. A coordinator that
//!    counts results and resends what stays unanswered makes the pipeline lossless across a
//!    worker's crash and restart (duplicates are possible, and counted).
//!
//! The code inside each world is the ordinary async API: sockets are built with
//! `.runtime(host.runtime())`, endpoints are `tcp://hostname:port`. Nothing touches a real
//! socket, thread or clock, and the same seed replays the same run exactly.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zmq_sansio::easy::{Options, RRClient, RRServer};
use zmq_sansio::io::{self, Socket};
use zmq_sansio::proto::SocketType;
use zmq_sansio::simulation::{Fault, FaultPlan, Host, World};

/// What a scenario reports: `Err` names the broken guarantee.
type Outcome = Result<(), String>;

/// A scenario, run with a seed.
type Scenario = fn(u64) -> Outcome;

fn main() -> ExitCode {
    let seed = std::env::args()
        .nth(1)
        .map_or(1, |s| s.parse().expect("the seed is a number"));
    let scenarios: [(&str, Scenario); 3] = [
        (
            "request/reply through a crash and a partition",
            request_reply,
        ),
        ("PUB/SUB: the slow joiner and the late joiner", late_joiner),
        ("PUSH/PULL: a pipeline across a worker restart", pipeline),
    ];
    let mut failed = false;
    for (title, scenario) in scenarios {
        println!("== {title} (seed {seed})");
        if let Err(broken) = scenario(seed) {
            println!("   FAILED: {broken}");
            failed = true;
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn socket(host: &Host, kind: SocketType) -> Socket {
    Socket::builder(kind)
        .runtime(host.runtime())
        .build()
        .expect("a simulated socket")
}

/// How long the world ran in virtual time, and how long that took.
fn timing(world: &World, wall: Instant) -> String {
    format!(
        "{:.2?} of virtual time in {:.2?} of wall time",
        world.elapsed(),
        wall.elapsed()
    )
}

fn text(msg: &zmq_sansio::Msg) -> String {
    String::from_utf8_lossy(&msg.frames()[0]).into_owned()
}

// ---------------------------------------------------------------------------------------
// 1. Request/reply: at-least-once through a crash and a partition.
// ---------------------------------------------------------------------------------------

fn request_reply(seed: u64) -> Outcome {
    const REQUESTS: usize = 40;
    let wall = Instant::now();
    let world = World::new(seed);

    // How often the server handled each request; outside the server so that it survives
    // the crash.
    let served: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    // The server's program runs at start and again after every restart.
    world.host_with_program("server", {
        let served = Arc::clone(&served);
        move |host| {
            let served = Arc::clone(&served);
            async move {
                let options = Options::new().runtime(host.runtime());
                let server = RRServer::bind_with("tcp://server:5555", options)
                    .expect("bind")
                    .with_handler(move |request: String| {
                        *served.lock().unwrap().entry(request.clone()).or_default() += 1;
                        // The work takes a while: a crash can come before the reply.
                        let work = host.sleep(Duration::from_millis(200));
                        async move {
                            work.await;
                            request
                        }
                    });
                let _ = server.run().await;
            }
        }
    });
    let client = world.host("client");

    // The server crashes at 2.1 s (working on a request), is cut off from the client at
    // 3 s, comes back at 5 s (still cut off) and becomes reachable again at 8 s.
    let plan = FaultPlan::new()
        .at(Duration::from_millis(2100), Fault::Crash("server".into()))
        .at(
            Duration::from_secs(3),
            Fault::Partition("server".into(), "client".into()),
        )
        .at(Duration::from_secs(5), Fault::Restart("server".into()))
        .at(
            Duration::from_secs(8),
            Fault::Heal("server".into(), "client".into()),
        );
    println!(
        "   faults:\n     {}",
        plan.to_string().replace('\n', "\n     ")
    );
    world.apply(&plan);

    let rr = RRClient::connect_with(
        "tcp://server:5555",
        Options::new().runtime(client.runtime()),
    )
    .expect("connect")
    .with_timeout(Duration::from_millis(500))
    .with_retries(100);
    let answered = world.block_on(async {
        let mut answered = 0;
        for i in 0..REQUESTS {
            let request = format!("request {i}");
            match rr.request_text(&request).await {
                Ok(reply) if reply == request => answered += 1,
                Ok(reply) => return Err(format!("{request} answered with {reply}")),
                Err(error) => return Err(format!("{request}: {error}")),
            }
            world.sleep(Duration::from_millis(50)).await;
        }
        Ok(answered)
    })?;

    let served = served.lock().unwrap();
    let mut times: BTreeMap<u32, usize> = BTreeMap::new();
    for count in served.values() {
        *times.entry(*count).or_default() += 1;
    }
    println!(
        "   {answered} of {REQUESTS} requests answered; {}",
        timing(&world, wall)
    );
    for (count, requests) in &times {
        println!("   {requests} requests served {count} time(s)");
    }
    let never = (0..REQUESTS)
        .filter(|i| !served.contains_key(&format!("request {i}")))
        .count();
    if answered != REQUESTS || never > 0 {
        return Err(format!(
            "at-least-once broken: {answered} answered, {never} never served"
        ));
    }
    println!("   ok: every request answered and served at least once");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 2. PUB/SUB: the slow joiner, and a late joiner that takes a snapshot.
// ---------------------------------------------------------------------------------------

fn late_joiner(seed: u64) -> Outcome {
    let wall = Instant::now();
    let naive = slow_joiner(seed, false);
    let waited = slow_joiner(seed, true);
    println!("   publishing at once: the subscriber got updates {naive:?} of 0..10");
    println!("   waiting for the subscription first: it got {waited:?}");
    if waited != (0..10).collect::<Vec<_>>() {
        return Err(format!(
            "waiting for the subscriber, it still got {waited:?}"
        ));
    }
    snapshot_then_updates(seed)?;
    println!(
        "   {:.2?} of wall time for the three worlds",
        wall.elapsed()
    );
    Ok(())
}

/// A publisher sends updates 0 to 9 as soon as it is bound (or once a subscriber's
/// subscription has arrived); which does a subscriber connecting at the same time get?
fn slow_joiner(seed: u64, wait_for_subscription: bool) -> Vec<u32> {
    let world = World::new(seed);
    let hub = world.host("hub");
    let desk = world.host("desk");
    let publisher = socket(&hub, SocketType::Pub);
    publisher.bind("tcp://hub:6000").unwrap();
    let subscriber = Socket::builder(SocketType::Sub)
        .runtime(desk.runtime())
        .subscribe("")
        .build()
        .unwrap();
    subscriber.connect("tcp://hub:6000").unwrap();
    world.block_on(async {
        if wait_for_subscription {
            // The connection, the handshake and the subscription take round trips: what is
            // published before the subscription arrives is not sent to this subscriber.
            publisher.wait_for_subscribers(1).await;
        }
        for update in 0..10u32 {
            publisher.send(update.to_string()).await.unwrap();
            world.sleep(Duration::from_micros(100)).await;
        }
    });
    world.run_for(Duration::from_millis(10));
    let mut got = Vec::new();
    while let Ok(Some(msg)) = subscriber.try_recv() {
        got.push(text(&msg).parse().unwrap());
    }
    got
}

/// The clone pattern: a publisher of numbered updates of one value, and a snapshot server
/// beside it. A subscriber joining at any time subscribes, waits for its first update
/// (so its subscription is in place), asks for a snapshot, then applies only the updates
/// newer than the snapshot: it holds the publisher's state from then on, with no gap.
fn snapshot_then_updates(seed: u64) -> Outcome {
    const UPDATES: u32 = 300;
    let wall = Instant::now();
    let world = World::new(seed);
    let hub = world.host("hub");
    let late = world.host("late");

    // The state: the number of the last update and the value it set.
    let state = Arc::new(Mutex::new((0u32, 0u32)));
    let value_of = |update: u32| update * 7 % 1000;
    let publisher = socket(&hub, SocketType::Pub);
    publisher.bind("tcp://hub:6000").unwrap();
    hub.spawn({
        let (hub, state) = (hub.clone(), Arc::clone(&state));
        async move {
            for update in 1..=UPDATES {
                let value = value_of(update);
                *state.lock().unwrap() = (update, value);
                publisher.send(format!("{update} {value}")).await.unwrap();
                hub.sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let snapshots = socket(&hub, SocketType::Rep);
    snapshots.bind("tcp://hub:6001").unwrap();
    hub.spawn({
        let state = Arc::clone(&state);
        async move {
            while snapshots.recv().await.is_ok() {
                let (update, value) = *state.lock().unwrap();
                let _ = snapshots.send(format!("{update} {value}")).await;
            }
        }
    });

    let parse = |msg: &zmq_sansio::Msg| -> (u32, u32) {
        let text = text(msg);
        let (update, value) = text.split_once(' ').unwrap();
        (update.parse().unwrap(), value.parse().unwrap())
    };
    let (first_seen, snapshot, applied, last) = world.block_on(async {
        // Joins after a second: about a hundred updates have gone by.
        world.sleep(Duration::from_secs(1)).await;
        let updates = Socket::builder(SocketType::Sub)
            .runtime(late.runtime())
            .subscribe("")
            .build()
            .unwrap();
        updates.connect("tcp://hub:6000").unwrap();
        let first = parse(&updates.recv().await.unwrap());
        // Updates keep queueing in `updates` while the snapshot is on its way.
        let request = socket(&late, SocketType::Req);
        request.connect("tcp://hub:6001").unwrap();
        request.send("snapshot?").await.unwrap();
        let snapshot = parse(&request.recv().await.unwrap());
        let mut held = snapshot;
        let mut applied = 0;
        while held.0 < UPDATES {
            let update = parse(&updates.recv().await.unwrap());
            if update.0 <= held.0 {
                continue; // already in the snapshot
            }
            if update.0 != held.0 + 1 {
                return Err(format!("gap: update {} after {}", update.0, held.0));
            }
            held = update;
            applied += 1;
        }
        Ok((first.0, snapshot, applied, held))
    })?;
    println!(
        "   a subscriber joining at 1 s sees update {first_seen} first: updates 1 to {} are \
         gone for it",
        first_seen - 1
    );
    println!(
        "   with a snapshot: state of update {} at once, then {applied} updates, no gap; {}",
        snapshot.0,
        timing(&world, wall)
    );
    if snapshot.0 < first_seen - 1 || last != (UPDATES, value_of(UPDATES)) {
        return Err(format!(
            "the late joiner holds {last:?}, the publisher {:?}",
            (UPDATES, value_of(UPDATES))
        ));
    }
    println!("   ok: the late joiner holds the publisher's state");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 3. PUSH/PULL: a pipeline that loses nothing across a worker restart.
// ---------------------------------------------------------------------------------------

fn pipeline(seed: u64) -> Outcome {
    const TASKS: u32 = 200;
    /// Tasks out at once: small, so that a task waits in no queue for long and a missing
    /// result soon means a lost task.
    const WINDOW: usize = 6;
    /// A task unanswered this long is sent again (ten times the work it takes).
    const RESEND_AFTER: Duration = Duration::from_millis(500);
    const WORK: Duration = Duration::from_millis(50);
    let wall = Instant::now();
    let world = World::new(seed);
    let coordinator = world.host("coordinator");

    // Each worker pulls a task, works on it, and pushes the result "<task> <worker>".
    for name in ["worker1", "worker2", "worker3"] {
        world.host_with_program(name, |host: Host| async move {
            let tasks = socket(&host, SocketType::Pull);
            tasks.connect("tcp://coordinator:5557").unwrap();
            let results = socket(&host, SocketType::Push);
            results.connect("tcp://coordinator:5558").unwrap();
            while let Ok(task) = tasks.recv().await {
                host.sleep(WORK).await;
                let result = format!("{} {}", text(&task), host.name());
                if results.send(result).await.is_err() {
                    break;
                }
            }
        });
    }
    // worker1 crashes with the tasks it holds, and comes back a second later.
    let plan = FaultPlan::new()
        .at(Duration::from_secs(1), Fault::Crash("worker1".into()))
        .at(Duration::from_secs(2), Fault::Restart("worker1".into()));
    println!(
        "   faults:\n     {}",
        plan.to_string().replace('\n', "\n     ")
    );
    world.apply(&plan);

    // The coordinator: the ventilator (PUSH) and the sink (PULL) in one process, so that
    // the sink's results acknowledge the ventilator's tasks.
    let ventilator = socket(&coordinator, SocketType::Push);
    ventilator.bind("tcp://coordinator:5557").unwrap();
    let sink = socket(&coordinator, SocketType::Pull);
    sink.bind("tcp://coordinator:5558").unwrap();
    let (results, by_worker, resent) = world.block_on(async {
        let mut results: BTreeMap<u32, u32> = BTreeMap::new();
        let mut by_worker: BTreeMap<String, u32> = BTreeMap::new();
        // Tasks sent and not yet answered, with when they were last sent.
        let mut outstanding: BTreeMap<u32, Instant> = BTreeMap::new();
        let (mut next, mut resent) = (0, 0);
        // Bounded, so that a broken pipeline is reported instead of waited on forever.
        while (results.len() as u32) < TASKS && world.elapsed() < Duration::from_secs(60) {
            while outstanding.len() < WINDOW && next < TASKS {
                ventilator.send(next.to_string()).await.unwrap();
                outstanding.insert(next, world.now());
                next += 1;
            }
            match sink.recv_timeout(Duration::from_millis(100)).await {
                Ok(result) => {
                    let result = text(&result);
                    let (task, worker) = result.split_once(' ').unwrap();
                    let task: u32 = task.parse().unwrap();
                    *results.entry(task).or_default() += 1;
                    *by_worker.entry(worker.to_owned()).or_default() += 1;
                    outstanding.remove(&task);
                }
                Err(io::Error::Timeout(_)) => {}
                Err(error) => panic!("sink: {error}"),
            }
            for (task, sent) in &mut outstanding {
                if world.now() - *sent >= RESEND_AFTER {
                    ventilator.send(task.to_string()).await.unwrap();
                    *sent = world.now();
                    resent += 1;
                }
            }
        }
        (results, by_worker, resent)
    });

    let duplicates: u32 = results.values().map(|n| n - 1).sum();
    println!(
        "   {} of {TASKS} tasks have a result; {resent} sent again after no result for \
         {RESEND_AFTER:?}, {duplicates} duplicate results; {}",
        results.len(),
        timing(&world, wall)
    );
    println!("   results by worker: {by_worker:?}");
    let missing: Vec<u32> = (0..TASKS).filter(|t| !results.contains_key(t)).collect();
    if !missing.is_empty() {
        return Err(format!("tasks without a result: {missing:?}"));
    }
    println!("   ok: every task's result arrived");
    Ok(())
}
