//! Our proxy with pyzmq peers on both sides (`tests/python/proxy_peers.py`, each run in a
//! `python3` child process killed on drop), over loopback TCP: REQ clients and REP workers
//! through our broker, PUB and SUB through our forwarder, a pyzmq control client steering
//! it with libzmq's strings; and libzmq's own `zmq_proxy_steerable` counting the same
//! traffic as ours does.
//!
//! Needs Python 3 with pyzmq. Run with
//! `cargo test --features pyzmq-tests --test pyzmq_proxy`.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;

use support::{PATIENCE, bounded};
use zmq_sansio::Msg;
use zmq_sansio::io::{Socket, SteerableProxy};
use zmq_sansio::proto::SocketType;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/proxy_peers.py");

/// A `python3 proxy_peers.py …` child; killed and reaped when dropped.
struct Python {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl Python {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(SCRIPT)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start python3 with pyzmq: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Some(std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        }));
        Self {
            child,
            lines,
            stderr,
        }
    }

    /// The script's next line; panics with its stderr if it ends or says nothing in time.
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(err) => {
                let _ = self.child.kill();
                let status = self.child.wait().map(|s| s.to_string());
                let stderr = self.stderr.take().and_then(|t| t.join().ok());
                panic!(
                    "proxy_peers.py: no line ({err}); exit {status:?}; stderr:\n{}",
                    stderr.unwrap_or_default()
                )
            }
        }
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ANY_PORT: &str = "tcp://127.0.0.1:*";

fn bound(socket_type: SocketType) -> (Socket, String) {
    let socket = Socket::new(socket_type);
    let endpoint = socket.bind(ANY_PORT).unwrap();
    (socket, endpoint)
}

#[test]
fn pyzmq_req_clients_and_rep_workers_through_our_broker() {
    let (router, clients) = bound(SocketType::Router);
    let (dealer, workers) = bound(SocketType::Dealer);
    let proxy = SteerableProxy::new(router, dealer);
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    let mut peers = Python::spawn(&["broker", &clients, &workers, "4", "3", "25"]);
    let result = peers.line();
    let words: Vec<&str> = result.split(' ').collect();
    assert_eq!(words[..2], ["OK", "100"], "{result}");
    assert!(words[2].parse::<usize>().unwrap() >= 2, "{result}");
    let stats = control.statistics();
    assert_eq!(stats.frontend.received.frames, 100 * 3);
    assert_eq!(stats.backend.received.frames, 100 * 3);
    control.terminate();
    bounded("terminated", running).unwrap();
}

#[test]
fn pyzmq_pub_and_sub_through_our_forwarder() {
    let (xsub, publishers) = bound(SocketType::XSub);
    let xpub = Socket::builder(SocketType::XPub)
        .xpub_verbose(true)
        .build()
        .unwrap();
    let subscribers = xpub.bind(ANY_PORT).unwrap();
    let proxy = SteerableProxy::new(xsub, xpub);
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    let mut peers = Python::spawn(&["forwarder", &publishers, &subscribers, "100"]);
    assert_eq!(peers.line(), "OK 100");
    // The SUB's subscription went up through the proxy (at least once).
    assert!(control.statistics().backend.received.frames >= 1);
    control.terminate();
    bounded("terminated", running).unwrap();
}

/// Sends REQ clients' requests through a broker whose workers are ours.
fn traffic(clients: &str, workers: &str, requests: usize) {
    let rep = Socket::new(SocketType::Rep);
    rep.connect(workers).unwrap();
    let req = Socket::new(SocketType::Req);
    req.connect(clients).unwrap();
    bounded("requests answered", async {
        for i in 0..requests {
            req.send(Msg::from_frames([format!("request {i}"), "x".repeat(i)]))
                .await
                .unwrap();
            let request = rep.recv().await.unwrap();
            rep.send(request).await.unwrap();
            req.recv().await.unwrap();
        }
    });
}

fn parse_stats(line: &str) -> [u64; 8] {
    let numbers: Vec<u64> = line
        .strip_prefix("STATS ")
        .unwrap_or_else(|| panic!("not statistics: {line}"))
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    numbers.try_into().unwrap()
}

#[test]
fn a_pyzmq_control_client_steers_our_proxy_with_libzmqs_strings() {
    let (router, clients) = bound(SocketType::Router);
    let (dealer, workers) = bound(SocketType::Dealer);
    let (control_rep, control_endpoint) = bound(SocketType::Rep);
    let proxy = SteerableProxy::new(router, dealer).control_socket(control_rep);
    let running = smol::spawn(proxy.run());
    traffic(&clients, &workers, 10);
    let mut steering = Python::spawn(&[
        "control",
        &control_endpoint,
        "PAUSE",
        "STATISTICS",
        "RESUME",
        "TERMINATE",
    ]);
    assert_eq!(steering.line(), "EMPTY");
    let stats = parse_stats(&steering.line());
    assert_eq!(steering.line(), "EMPTY");
    assert_eq!(steering.line(), "EMPTY");
    bounded("terminated by the control socket", running).unwrap();
    // Ten requests of two frames in an envelope of two, each way.
    assert_eq!(stats[0], 40);
    assert_eq!(stats[2], 40);
    assert_eq!(stats[4], 40);
    assert_eq!(stats[6], 40);
}

#[test]
fn our_statistics_match_libzmqs_for_the_same_traffic() {
    let requests = 12;
    // libzmq's proxy, counting.
    let mut libzmq = Python::spawn(&["libzmq-proxy", ANY_PORT, ANY_PORT, ANY_PORT]);
    let ready = libzmq.line();
    let endpoints: Vec<&str> = ready
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{ready}"))
        .split(' ')
        .collect();
    traffic(endpoints[0], endpoints[1], requests);
    let mut asking = Python::spawn(&["control", endpoints[2], "STATISTICS", "TERMINATE"]);
    let theirs = parse_stats(&asking.line());
    assert_eq!(asking.line(), "EMPTY");
    assert_eq!(libzmq.line(), "TERMINATED");

    // Ours, with the same sockets and the same traffic.
    let (router, clients) = bound(SocketType::Router);
    let (dealer, workers) = bound(SocketType::Dealer);
    let proxy = SteerableProxy::new(router, dealer);
    let control = proxy.control();
    let running = smol::spawn(proxy.run());
    traffic(&clients, &workers, requests);
    let ours = control.statistics();
    control.terminate();
    bounded("terminated", running).unwrap();

    // Both generate 5-octet routing ids, so frames and octets match exactly.
    assert_eq!(ours.to_array(), theirs, "ours {ours:?}, libzmq {theirs:?}");
}
