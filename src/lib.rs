//! ZeroMQ as pure state machines.
//!
//! `zmq-sansio` speaks ZMTP 3.0/3.1, the wire protocol of libzmq, pyzmq, zmq.rs, JeroMQ and
//! NetMQ. Every piece of protocol logic is a *sans-IO* machine: bytes and time go in as method
//! arguments, bytes and events come out of `poll_*` methods. The machines never touch a socket,
//! never read a clock and never spawn a task, so they run the same under any executor, in a
//! fuzzer, or in a deterministic in-memory test.
//!
//! # Layers
//!
//! | layer | what it does |
//! |---|---|
//! | [`proto`] | one peer: greeting, framing, commands, security mechanism, heartbeats ([`proto::Connection`]) |
//! | [`pattern`] | one socket: REQ/REP lockstep, ROUTER addressing, PUB/SUB filtering, PUSH/PULL, PAIR, HWMs ([`pattern::Socket`]) |
//! | [`io`] | sockets over TCP and IPC on any executor ([`io::Socket`]; feature `io`, default) |
//! | [`easy`] | the Python `zmq_async` classes: `Publisher`, `Subscriber`, `RRServer`, … (feature `easy`, default) |
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
pub mod sim;

pub use endpoint::{Endpoint, EndpointError, Host};
pub use message::Msg;

/// The README's code blocks are compiled and run as doctests, so the front page stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
