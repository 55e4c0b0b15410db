//! ZeroMQ as pure state machines.
//!
//! `zmq-sansio` speaks ZMTP 3.0/3.1, the wire protocol of libzmq, pyzmq, zmq.rs, JeroMQ and
//! NetMQ. Every piece of protocol logic is a *sans-IO* machine: bytes and time go in as method
//! arguments, bytes and events come out of `poll_*` methods. The machines never touch a socket,
//! never read a clock and never spawn a task, so they run the same under any executor, in a
//! fuzzer, or in a deterministic in-memory test.
//!
//! # From Python's `zmq_async`
//!
//! The [`easy`] module is the Rust form of the Python `zmq_async` module, byte-compatible on
//! the wire, so a Python `Publisher` and a Rust [`easy::Subscriber`] talk:
//!
//! | Python | Rust | socket |
//! |---|---|---|
//! | `Publisher(port, coding, msgid)`, `publish(msg, msgtype, msgid)` | [`easy::Publisher`]: `publish`, `publish_json`, `publish_to`, `publish_json_to` | PUB |
//! | `Subscriber(host, ports, msgid, coding)`, `addPort`, `subscribe()` | [`easy::Subscriber`]: `add_port`, `subscribe`, `subscribe_as::<T>` | SUB |
//! | `RRServer(port, handler)`, `run()` | [`easy::RRServer`]: `with_handler`, `run`, `stop_handle` | REP |
//! | `RRClient(host, port)`, `request(msg)` | [`easy::RRClient`]: `request`, `with_timeout`, `with_retries` | REQ |
//! | `PPPusher(host, port)`, `push(msg)` | [`easy::PPPusher`]: `push` | PUSH |
//! | `PPPuller(host, port, handler)`, `run()` | [`easy::PPPuller`]: `with_handler`, `run`, `pull` | PULL |
//! | `PairClient(host, port)`, `request(msg)` | [`easy::PairClient`]: `request` | PAIR |
//! | `PairServer(port, handler)`, `run()` | [`easy::PairServer`]: `with_handler`, `run` | PAIR |
//!
//! ```
//! # smol::block_on(async {
//! use zmq_sansio::easy::{RRClient, RRServer};
//!
//! let server = RRServer::bind("tcp://127.0.0.1:*")?
//!     .with_handler(|request: String| async move { format!("Echo: {request}") });
//! let client = RRClient::connect(server.endpoint())?;
//! let _serving = smol::spawn(async move { server.run().await });
//! assert_eq!(client.request_text("hello").await?, "Echo: hello");
//! # Ok::<(), zmq_sansio::easy::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Layers
//!
//! | layer | what it does |
//! |---|---|
//! | [`proto`] | one peer: greeting, framing, commands, security mechanism, heartbeats ([`proto::Connection`]) |
//! | [`pattern`] | one socket: REQ/REP lockstep, ROUTER addressing, PUB/SUB filtering, PUSH/PULL, PAIR, HWMs ([`pattern::Socket`]) |
//! | [`io`] | sockets over TCP and IPC on any executor ([`io::Socket`]; feature `io`, default), and TLS between zmq-sansio peers (feature `tls`) |
//! | [`easy`] | the Python `zmq_async` classes: `Publisher`, `Subscriber`, `RRServer`, … (feature `easy`, default) |
//! | [`python_json`] | JSON exactly as Python's `json` module writes and reads it, `NaN` and `±Infinity` included (feature `python-json`, part of `easy`) |
//! | [`proxy`] | a proxy between two sockets (libzmq's `zmq_proxy_steerable`) as a machine; `io::proxy` runs it over io sockets |
//! | [`sim`] | whole topologies of sockets in memory, under virtual time ([`sim::Network`]) |
//! | [`Msg`] | a multipart message whose frames are cheap-to-clone [`bytes::Bytes`] |
//!
//! # A connection in memory
//!
//! ```
//! use std::time::Instant;
//! use zmq_sansio::proto::{Connection, Config, Event, Role, SocketType};
//! use zmq_sansio::Msg;
//!
//! let now = Instant::now();
//! let mut client = Connection::new(Config::new(SocketType::Push), Role::Client, now);
//! let mut server = Connection::new(Config::new(SocketType::Pull), Role::Server, now);
//!
//! // Shuttle bytes until both handshakes are done (an adapter does this over TCP).
//! fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
//!     while let Some(bytes) = from.poll_transmit() {
//!         to.handle_input(&bytes, now).unwrap();
//!     }
//! }
//! for _ in 0..3 {
//!     pump(&mut client, &mut server, now);
//!     pump(&mut server, &mut client, now);
//! }
//! assert!(client.is_ready() && server.is_ready());
//!
//! client.send(&Msg::from("hello")).unwrap();
//! pump(&mut client, &mut server, now);
//! let events: Vec<Event> = std::iter::from_fn(|| server.poll_event()).collect();
//! assert!(matches!(&events[..], [Event::Ready(peer), Event::Message(m)]
//!     if peer.socket_type == SocketType::Push && m.frames()[0] == "hello"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "easy")]
pub mod easy;
mod endpoint;
#[cfg(feature = "io")]
pub mod io;
mod message;
pub mod pattern;
pub mod proto;
pub mod proxy;
#[cfg(feature = "python-json")]
pub mod python_json;
pub mod security;
pub mod sim;
#[cfg(feature = "simulation")]
pub mod simulation;

pub use endpoint::{Endpoint, EndpointError, Host};
pub use message::Msg;

/// The README's code blocks are compiled and run as doctests, so the front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
