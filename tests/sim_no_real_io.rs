//! Nothing inside a simulation touches the real world: no socket or file is opened, no
//! thread is started (async-io's reactor and smol's executor threads among them), while io
//! sockets and the easy classes run a scenario with reconnects and timeouts. Alone in its
//! test binary, so that no other test starts threads or opens descriptors meanwhile.

#![cfg(target_os = "linux")]

use std::time::Duration;

use zmq_sansio::easy::{Options, RRClient, RRServer};
use zmq_sansio::io::Socket;
use zmq_sansio::proto::SocketType;
use zmq_sansio::simulation::World;

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn thread_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_simulation_opens_nothing_and_starts_no_thread() {
    let descriptors = open_descriptors();
    let threads = thread_names();
    let world = World::new(42);
    let server = world.host("server");
    let client = world.host("client");
    let rr_server = RRServer::bind_with(
        "tcp://server:5555",
        Options::new().runtime(server.runtime()),
    )
    .unwrap()
    .with_handler(|request: String| request);
    server.spawn(async move {
        let _ = rr_server.run().await;
    });
    let pull = Socket::builder(SocketType::Pull)
        .runtime(server.runtime())
        .build()
        .unwrap();
    pull.bind("ipc:///simulated/only").unwrap();
    let push = Socket::builder(SocketType::Push)
        .runtime(server.runtime())
        .build()
        .unwrap();
    push.connect("ipc:///simulated/only").unwrap();
    let rr = RRClient::connect_with(
        "tcp://server:5555",
        Options::new().runtime(client.runtime()),
    )
    .unwrap()
    .with_timeout(Duration::from_secs(1))
    .with_retries(3);
    world.block_on(async {
        for i in 0..100 {
            assert_eq!(
                rr.request_text(&format!("{i}")).await.unwrap(),
                format!("{i}")
            );
            push.send(format!("{i}")).await.unwrap();
            assert_eq!(
                pull.recv().await.unwrap().frames()[0],
                format!("{i}").as_str()
            );
            assert_eq!(
                open_descriptors(),
                descriptors,
                "a real descriptor was opened"
            );
        }
    });
    world.crash(&server);
    world.run_for(Duration::from_secs(5));
    assert_eq!(
        open_descriptors(),
        descriptors,
        "a real descriptor was opened"
    );
    assert_eq!(thread_names(), threads, "a real thread was started");
}
