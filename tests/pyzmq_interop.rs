//! Our `io::Socket` against pyzmq (libzmq 4.3 as most deployments have it), each Python
//! socket in its own `python3` child process running `tests/python/peer.py`, over loopback
//! TCP: every pattern in both directions with each side binding in turn, and a peer killed
//! mid-stream and restarted.
//!
//! Needs Python 3 with pyzmq (`python3 -m pip install pyzmq`; `.ci/run` installs it). Run
//! with `cargo test --features pyzmq-tests --test pyzmq_interop`. Without Python or pyzmq
//! the tests fail, saying so; they never skip.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use support::{Binder, End, Link, Ours, PATIENCE, Peer, Peers, assert_same, m};
use zmq_sansio::Msg;
use zmq_sansio::proto::SocketType;

const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/peer.py");
/// How long an answer may take beyond the time the script was asked to wait.
const SLACK: Duration = Duration::from_secs(1);
const INSTALL_HINT: &str = "the pyzmq interop tests need Python 3 with pyzmq: \
                            `python3 -m pip install pyzmq`";

/// A `python3 peer.py` child process; killed (SIGKILL) and reaped when dropped.
struct Python {
    what: String,
    child: Child,
    stdin: ChildStdin,
    /// Lines the script prints, read by a thread so that every wait can be bounded.
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// Where the socket is bound or connected.
    endpoint: String,
}

impl Python {
    /// Starts a pyzmq socket of `kind` (`"PUSH"`, …) that binds or connects to `endpoint`.
    fn spawn(kind: &str, how: &str, endpoint: &str, routing_id: Option<&[u8]>) -> Self {
        Self::spawn_with(kind, how, endpoint, routing_id, &[])
    }

    /// Like [`Python::spawn`], with environment variables for the script (its security).
    fn spawn_with(
        kind: &str,
        how: &str,
        endpoint: &str,
        routing_id: Option<&[u8]>,
        env: &[(String, String)],
    ) -> Self {
        let mut command = Command::new("python3");
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg(PEER_SCRIPT)
            .args([kind, how, endpoint])
            .args(routing_id.map(hex))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start python3 ({err}): {INSTALL_HINT}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut python = Self {
            what: format!("pyzmq {kind} ({how} {endpoint})"),
            child,
            stdin,
            lines,
            stderr: Some(stderr),
            endpoint: String::new(),
        };
        let ready = python.line(PATIENCE);
        python.endpoint = ready
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("{}: said {ready:?} instead of READY", python.what))
            .to_owned();
        python
    }

    /// The next line from the script.
    fn line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!("{}: no answer within {timeout:?}", self.what)
            }
            Err(RecvTimeoutError::Disconnected) => self.died(),
        }
    }

    /// Sends one command line and returns the answer.
    fn command(&mut self, command: &str, timeout: Duration) -> String {
        let sent = writeln!(self.stdin, "{command}").and_then(|()| self.stdin.flush());
        if sent.is_err() {
            self.died();
        }
        self.line(timeout)
    }

    /// Reports a script that ended, with what it printed on stderr.
    /// Ends the script and returns what it wrote to stderr.
    fn stderr(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default()
    }

    fn died(&mut self) -> ! {
        let _ = self.child.kill();
        let status = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(err) => err.to_string(),
        };
        let stderr = self
            .stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        let hint = if stderr.contains("No module named 'zmq'") {
            INSTALL_HINT
        } else {
            ""
        };
        panic!(
            "{} ended ({status}). {hint}\nits stderr:\n{stderr}",
            self.what
        );
    }

    /// Starts sending `[tag, "0"]`, `[tag, "1"]`, … until killed (PUSH).
    fn stream(&mut self, tag: &str) {
        let answer = self.command(&format!("STREAM {tag}"), PATIENCE);
        assert_eq!(answer, "STREAMING", "{}", self.what);
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        text.push(DIGITS[usize::from(b >> 4)] as char);
        text.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    text
}

fn unhex(text: &str) -> Bytes {
    fn nibble(digit: u8) -> u8 {
        match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => panic!("not a hex digit from python: {:?}", digit as char),
        }
    }
    assert!(text.len().is_multiple_of(2), "odd hex length from python");
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| nibble(pair[0]) << 4 | nibble(pair[1]))
        .collect()
}

/// Frames as the script's command lines carry them.
fn encode(msg: &Msg) -> String {
    msg.frames()
        .iter()
        .map(|f| hex(f))
        .collect::<Vec<_>>()
        .join(",")
}

fn decode(text: &str) -> Msg {
    Msg::from_frames(text.split(',').map(unhex))
}

/// A pyzmq socket as an [`End`].
struct PyPeer {
    python: Python,
    kind: SocketType,
}

/// Starts pyzmq peers.
struct Pyzmq;

impl Peers for Pyzmq {
    fn open(
        &mut self,
        kind: SocketType,
        link: Link<'_>,
        routing_id: Option<&[u8]>,
    ) -> Box<dyn Peer> {
        SecurePyzmq { env: Vec::new() }.open(kind, link, routing_id)
    }
}

/// Starts pyzmq peers with security settings (`PEER_SECURITY`, `PEER_ZAP_ALLOW`: see
/// `tests/python/peer.py`).
struct SecurePyzmq {
    env: Vec<(String, String)>,
}

impl Peers for SecurePyzmq {
    fn open(
        &mut self,
        kind: SocketType,
        link: Link<'_>,
        routing_id: Option<&[u8]>,
    ) -> Box<dyn Peer> {
        let name = format!("{kind:?}").to_uppercase();
        let (how, endpoint) = match link {
            Link::Bind => ("bind", "tcp://127.0.0.1:*"),
            Link::Connect(endpoint) => ("connect", endpoint),
        };
        let python = Python::spawn_with(&name, how, endpoint, routing_id, &self.env);
        Box::new(PyPeer { python, kind })
    }
}

impl PyPeer {
    fn expect_ok(&mut self, command: &str) {
        // The script's own sends give up (and it exits, with a traceback) after 8 s.
        let answer = self.python.command(command, PATIENCE);
        assert_eq!(answer, "OK", "{}: {}", self.name(), short(command));
    }
}

fn short(command: &str) -> &str {
    &command[..command.len().min(80)]
}

impl End for PyPeer {
    fn name(&self) -> String {
        format!("pyzmq {:?}", self.kind)
    }

    fn send(&mut self, msg: &Msg) {
        self.expect_ok(&format!("SEND {}", encode(msg)));
    }

    fn recv_within(&mut self, timeout: Duration) -> Option<Msg> {
        let answer = self
            .python
            .command(&format!("RECV {}", timeout.as_millis()), timeout + SLACK);
        if answer == "TIMEOUT" {
            return None;
        }
        let frames = answer
            .strip_prefix("MSG ")
            .unwrap_or_else(|| panic!("{}: answered {:?}", self.name(), short(&answer)));
        Some(decode(frames))
    }

    /// Like the default, but the script's poll and our wait for its answer together stay
    /// within `PATIENCE`.
    fn recv(&mut self) -> Msg {
        self.recv_within(PATIENCE - SLACK)
            .unwrap_or_else(|| panic!("{}: nothing received within {PATIENCE:?}", self.name()))
    }

    fn subscribe(&mut self, prefix: &[u8]) {
        self.expect_ok(&format!("SUB {}", hex(prefix)));
    }

    fn unsubscribe(&mut self, prefix: &[u8]) {
        self.expect_ok(&format!("UNSUB {}", hex(prefix)));
    }
}

impl Peer for PyPeer {
    fn endpoint(&self) -> String {
        self.python.endpoint.clone()
    }
}

#[test]
fn push_pull_ours_binds() {
    support::push_pull(&mut Pyzmq, Binder::Ours);
}

#[test]
fn push_pull_pyzmq_binds() {
    support::push_pull(&mut Pyzmq, Binder::Theirs);
}

#[test]
fn req_rep_ours_binds() {
    support::req_rep(&mut Pyzmq, Binder::Ours);
}

#[test]
fn req_rep_pyzmq_binds() {
    support::req_rep(&mut Pyzmq, Binder::Theirs);
}

#[test]
fn dealer_router_ours_binds() {
    support::dealer_router(&mut Pyzmq, Binder::Ours);
}

#[test]
fn dealer_router_pyzmq_binds() {
    support::dealer_router(&mut Pyzmq, Binder::Theirs);
}

#[test]
fn pub_sub_ours_binds() {
    support::pub_sub(&mut Pyzmq, Binder::Ours);
}

#[test]
fn pub_sub_pyzmq_binds() {
    support::pub_sub(&mut Pyzmq, Binder::Theirs);
}

#[test]
fn pair_ours_binds() {
    support::pair(&mut Pyzmq, Binder::Ours);
}

#[test]
fn pair_pyzmq_binds() {
    support::pair(&mut Pyzmq, Binder::Theirs);
}

/// `[tag, number]` as sent by the script's STREAM.
fn tagged(msg: &Msg) -> (String, u64) {
    let frames = msg.frames();
    assert_eq!(frames.len(), 2, "a streamed message: {msg:?}");
    let tag = String::from_utf8_lossy(&frames[0]).into_owned();
    let number = std::str::from_utf8(&frames[1])
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a numbered message: {msg:?}"));
    (tag, number)
}

/// A publisher-side crash: the Python PUSH we connected to is killed while streaming and a
/// new one binds the same port; our PULL reconnects by itself and receives from it.
#[test]
fn pyzmq_push_killed_mid_stream_and_restarted_our_pull_reconnects() {
    let mut pull = Ours::new(SocketType::Pull, None);
    let mut first = Python::spawn("PUSH", "bind", "tcp://127.0.0.1:*", None);
    let endpoint = first.endpoint.clone();
    pull.socket.connect(&endpoint).expect("connect");
    first.stream("first");
    for n in 0..100 {
        assert_same(&pull.recv(), &m(&["first", &n.to_string()]), "first run");
    }

    drop(first); // SIGKILL, in the middle of its sending loop
    let mut second = Python::spawn("PUSH", "bind", &endpoint, None);
    assert_eq!(
        second.endpoint, endpoint,
        "the restarted peer took the same port"
    );
    second.stream("second");

    // What the first one delivered before dying comes first, in order and without gaps;
    // then the second one's stream from its start, with nothing done on our side.
    let mut next_first = 100;
    loop {
        let (tag, number) = tagged(&pull.recv());
        if tag == "second" {
            assert_eq!(number, 0, "the restarted peer's stream from its start");
            break;
        }
        assert_eq!((tag.as_str(), number), ("first", next_first));
        next_first += 1;
    }
    for n in 1..100 {
        assert_same(&pull.recv(), &m(&["second", &n.to_string()]), "second run");
    }
}

/// A consumer-side crash: the Python PULL our PUSH connected to is killed while we stream
/// to it and a new one binds the same port; our PUSH reconnects by itself and its stream
/// carries on there, in order.
#[test]
fn pyzmq_pull_killed_mid_stream_and_restarted_our_push_reconnects() {
    let push = Ours::new(SocketType::Push, None);
    let first = Python::spawn("PULL", "bind", "tcp://127.0.0.1:*", None);
    let endpoint = first.endpoint.clone();
    push.socket.connect(&endpoint).expect("connect");
    let mut first = PyPeer {
        python: first,
        kind: SocketType::Pull,
    };

    // Our stream runs on its own thread until the socket is closed under it.
    let sender = push.socket.clone();
    let (stopped, stop) = mpsc::channel();
    std::thread::spawn(move || {
        let mut number = 0u64;
        let end = loop {
            if let Err(err) = smol::block_on(sender.send(number.to_string())) {
                break err;
            }
            number += 1;
        };
        let _ = stopped.send(end);
    });
    let number = |msg: &Msg| -> u64 {
        std::str::from_utf8(&msg.frames()[0])
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a numbered message: {msg:?}"))
    };
    for n in 0..50 {
        assert_eq!(number(&first.recv()), n, "first run");
    }

    drop(first); // SIGKILL, with our stream still flowing
    let mut second = PyPeer {
        python: Python::spawn("PULL", "bind", &endpoint, None),
        kind: SocketType::Pull,
    };
    assert_eq!(second.python.endpoint, endpoint, "same port");
    // Messages in flight to the dead peer are lost; the rest continue in order.
    let resumed = number(&second.recv());
    assert!(resumed >= 50, "the stream went on from {resumed}");
    for n in resumed + 1..resumed + 50 {
        assert_eq!(number(&second.recv()), n, "second run");
    }

    support::bounded("closing our PUSH", push.socket.close());
    let end = stop
        .recv_timeout(PATIENCE)
        .expect("a send waiting on a closed socket returns");
    assert!(
        matches!(end, zmq_sansio::io::Error::Closed),
        "send ended with {end}"
    );
}

// ---- security: PLAIN and CURVE against libzmq's, each side the mechanism's server ----------

mod security {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use support::{Ours, with_options};
    use zmq_sansio::io::{Authenticator, SocketBuilder};
    use zmq_sansio::security::{AuthDecision, Credentials, CurveKeyPair};

    #[derive(Clone, Copy, Debug)]
    enum Mechanism {
        Plain,
        Curve,
    }

    /// Which side is the mechanism's server.
    #[derive(Clone, Copy, Debug)]
    enum Server {
        Ours,
        Theirs,
    }

    struct Setup {
        ours: Box<dyn Fn(SocketBuilder) -> SocketBuilder>,
        theirs: Vec<(String, String)>,
    }

    fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Credentials for both sides; `right`: the client holds what the server expects.
    fn setup(mechanism: Mechanism, server: Server, right: bool, calls: Arc<AtomicUsize>) -> Setup {
        let server_keys = CurveKeyPair::generate();
        let client_keys = CurveKeyPair::generate();
        let known_client = if right {
            client_keys.public().to_z85()
        } else {
            CurveKeyPair::generate().public().to_z85()
        };
        let password = if right { "secret" } else { "wrong" };
        let allowed_key = known_client.clone();
        let authenticator = Authenticator::new(move |request| {
            calls.fetch_add(1, Ordering::SeqCst);
            let ok = match &request.credentials {
                Credentials::Plain { username, password } => {
                    username == "admin" && &password[..] == b"secret"
                }
                Credentials::Curve { public_key } => public_key.to_z85() == allowed_key,
                _ => false,
            };
            if ok {
                AuthDecision::allow_as("admin")
            } else {
                AuthDecision::deny("not on the list")
            }
        });
        match (mechanism, server) {
            (Mechanism::Plain, Server::Ours) => Setup {
                ours: Box::new(move |b| b.plain_server().authenticator(authenticator.clone())),
                theirs: env(&[("PEER_SECURITY", format!("plain-client admin {password}"))]),
            },
            (Mechanism::Plain, Server::Theirs) => Setup {
                ours: Box::new(move |b| b.plain_client("admin", password)),
                theirs: env(&[
                    ("PEER_SECURITY", "plain-server".into()),
                    ("PEER_ZAP_ALLOW", "admin:secret".into()),
                ]),
            },
            (Mechanism::Curve, Server::Ours) => {
                let secret = server_keys.secret().clone();
                Setup {
                    ours: Box::new(move |b| {
                        b.curve_server(secret.clone())
                            .authenticator(authenticator.clone())
                    }),
                    theirs: env(&[(
                        "PEER_SECURITY",
                        format!(
                            "curve-client {} {} {}",
                            server_keys.public(),
                            client_keys.public(),
                            client_keys.secret().to_z85().as_str()
                        ),
                    )]),
                }
            }
            (Mechanism::Curve, Server::Theirs) => {
                let server_public = *server_keys.public();
                let ours_keys = client_keys.clone();
                Setup {
                    ours: Box::new(move |b| b.curve_client(server_public, ours_keys.clone())),
                    theirs: env(&[
                        (
                            "PEER_SECURITY",
                            format!("curve-server {}", server_keys.secret().to_z85().as_str()),
                        ),
                        ("PEER_ZAP_ALLOW", known_client),
                    ]),
                }
            }
        }
    }

    /// Every pattern both ways, with each side binding, under `mechanism` with `server`
    /// as the mechanism's server, credentials allowed.
    fn all_patterns(mechanism: Mechanism, server: Server) {
        for binder in [Binder::Ours, Binder::Theirs] {
            let calls = Arc::new(AtomicUsize::new(0));
            let Setup { ours, theirs } = setup(mechanism, server, true, Arc::clone(&calls));
            let mut peers = SecurePyzmq { env: theirs };
            with_options(ours, || {
                support::req_rep(&mut peers, binder);
                support::push_pull(&mut peers, binder);
                support::pub_sub(&mut peers, binder);
            });
            if let Server::Ours = server {
                assert_eq!(
                    calls.load(Ordering::SeqCst),
                    6,
                    "{mechanism:?}: our authenticator decides once per connection"
                );
            }
        }
    }

    #[test]
    fn plain_ours_serving_pyzmq_clients() {
        all_patterns(Mechanism::Plain, Server::Ours);
    }

    #[test]
    fn plain_pyzmq_serving_our_clients() {
        all_patterns(Mechanism::Plain, Server::Theirs);
    }

    #[test]
    fn curve_ours_serving_pyzmq_clients() {
        all_patterns(Mechanism::Curve, Server::Ours);
    }

    #[test]
    fn curve_pyzmq_serving_our_clients() {
        all_patterns(Mechanism::Curve, Server::Theirs);
    }

    /// A client with the wrong credentials gets nothing through, whichever side refuses it.
    fn denied(mechanism: Mechanism, server: Server) {
        let calls = Arc::new(AtomicUsize::new(0));
        let Setup { ours, theirs } = setup(mechanism, server, false, Arc::clone(&calls));
        let mut python = Python::spawn_with("PULL", "bind", "tcp://127.0.0.1:*", None, &theirs);
        let ours = with_options(ours, || Ours::new(SocketType::Push, None));
        // Connecting, our PUSH queues the message at once (no handshake needed to queue).
        ours.socket.connect(&python.endpoint).expect("connect");
        smol::block_on(ours.socket.send(Msg::from("must not arrive"))).expect("queued");
        let answer = python.command("RECV 1500", Duration::from_millis(1500) + SLACK);
        assert_eq!(
            answer, "TIMEOUT",
            "{mechanism:?}: a refused client received"
        );
        if let Server::Ours = server {
            // libzmq retries the handshake after each refusal: at least one decision.
            assert!(
                calls.load(Ordering::SeqCst) >= 1,
                "our authenticator was asked"
            );
        }
        drop(ours);
        let stderr = python.stderr();
        if let (Server::Theirs, Mechanism::Plain) = (server, mechanism) {
            assert!(stderr.contains("ZAP PLAIN 127.0.0.1 deny"), "{stderr}");
        }
    }

    #[test]
    fn plain_wrong_password_refused_by_our_server() {
        denied(Mechanism::Plain, Server::Ours);
    }

    #[test]
    fn plain_wrong_password_refused_by_pyzmq() {
        denied(Mechanism::Plain, Server::Theirs);
    }

    #[test]
    fn curve_unknown_client_key_refused_by_our_server() {
        denied(Mechanism::Curve, Server::Ours);
    }

    #[test]
    fn curve_unknown_client_key_refused_by_pyzmq() {
        denied(Mechanism::Curve, Server::Theirs);
    }
}
