//! Whole ZeroMQ sockets with no async, no executor and no runtime: the sans-IO
//! `pattern::Socket` machines driven over `std::net` by a hand-written loop, the way an
//! application with its own event loop (a game, an embedded controller, a `poll(2)`
//! server) would embed them. A REQ/REP pair and a PUB/SUB pair talk over loopback TCP.
//!
//! The loop keeps the contract written on `pattern::Socket` and `proto::Connection`: time
//! comes from the loop, octets go in as they arrive, and after every call the outputs are
//! drained (events, then octets for each peer), and due timers are run.
//!
//! Run with `cargo run --example blocking_loop`.

use std::error::Error;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use zmq_sansio::Msg;
use zmq_sansio::pattern::{PeerId, Socket, SocketOptions};
use zmq_sansio::proto::SocketType;

/// One socket with one peer over a non-blocking `TcpStream`.
struct End {
    socket: Socket,
    peer: PeerId,
    stream: TcpStream,
    /// Octets the machine produced that the stream has not taken yet.
    unsent: Vec<u8>,
}

impl End {
    /// A socket that connects to `addr` (it keeps its queue across reconnects).
    fn connect(kind: SocketType, addr: SocketAddr) -> io::Result<Self> {
        let mut socket = Socket::new(SocketOptions::new(kind));
        let peer = socket.add_peer().map_err(io::Error::other)?;
        socket.open(peer, Instant::now());
        Self::over(socket, peer, TcpStream::connect(addr)?)
    }

    /// A socket that accepts the next connection on `listener`.
    fn accept(kind: SocketType, listener: &TcpListener) -> io::Result<Self> {
        let (stream, _) = listener.accept()?;
        let mut socket = Socket::new(SocketOptions::new(kind));
        let peer = socket.accept(Instant::now());
        Self::over(socket, peer, stream)
    }

    fn over(socket: Socket, peer: PeerId, stream: TcpStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            socket,
            peer,
            stream,
            unsent: Vec::new(),
        })
    }

    /// One round of the contract at time `now`; whether anything moved.
    fn pump(&mut self, now: Instant) -> Result<bool, Box<dyn Error>> {
        let mut progress = false;
        // Events: with one peer and a loop that always pumps, nothing to route.
        while self.socket.poll_event().is_some() {}
        while let Some(chunk) = self.socket.poll_transmit(self.peer) {
            self.unsent.extend_from_slice(&chunk);
        }
        while !self.unsent.is_empty() {
            match self.stream.write(&self.unsent) {
                Ok(n) => {
                    self.unsent.drain(..n);
                    progress = true;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(err) => return Err(err.into()),
            }
        }
        if self.socket.wants_input(self.peer) {
            let mut buf = [0u8; 16 * 1024];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err("the peer closed the connection".into()),
                Ok(n) => {
                    self.socket.handle_input(self.peer, &buf[..n], now)?;
                    progress = true;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(err) => return Err(err.into()),
            }
        } else {
            // The peer's queue was full: offer what it holds back again.
            self.socket.handle_input(self.peer, &[], now)?;
        }
        if self
            .socket
            .poll_timeout(self.peer)
            .is_some_and(|deadline| deadline <= now)
        {
            self.socket.handle_timeout(self.peer, now)?;
        }
        Ok(progress)
    }
}

/// Pumps every end until `ready` finds what it waits for (or ten seconds pass).
fn pump_until<T>(
    ends: &mut [&mut End],
    mut ready: impl FnMut(&mut [&mut End]) -> Option<T>,
) -> Result<T, Box<dyn Error>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = Instant::now();
        let mut progress = false;
        for end in ends.iter_mut() {
            progress |= end.pump(now)?;
        }
        if let Some(found) = ready(ends) {
            return Ok(found);
        }
        if now > deadline {
            return Err("nothing happened within ten seconds".into());
        }
        if !progress {
            // A real loop would block in poll(2) on the streams and the next deadline.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn text(msg: &Msg) -> String {
    msg.iter()
        .map(|frame| String::from_utf8_lossy(frame).into_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("== REQ/REP over std::net, no runtime");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut req = End::connect(SocketType::Req, listener.local_addr()?)?;
    let mut rep = End::accept(SocketType::Rep, &listener)?;
    for i in 0..3 {
        req.socket.send(Msg::from(format!("request {i}")))?;
        let request = pump_until(&mut [&mut req, &mut rep], |ends| {
            ends[1].socket.recv().ok().flatten()
        })?;
        println!("REP got   {}", text(&request));
        rep.socket
            .send(Msg::from(format!("reply to {}", text(&request))))?;
        let reply = pump_until(&mut [&mut req, &mut rep], |ends| {
            ends[0].socket.recv().ok().flatten()
        })?;
        println!("REQ got   {}", text(&reply));
    }

    println!("== PUB/SUB over std::net, no runtime");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut sub = End::connect(SocketType::Sub, listener.local_addr()?)?;
    let mut publisher = End::accept(SocketType::Pub, &listener)?;
    sub.socket.subscribe(b"weather")?;
    // Until the subscription has reached the publisher, what it publishes is not for us.
    pump_until(&mut [&mut sub, &mut publisher], |ends| {
        (ends[1].socket.pattern().subscribed_peers() == 1).then_some(())
    })?;
    for (topic, body) in [("sports", "2-1"), ("weather", "rain"), ("weather", "sun")] {
        publisher.socket.send(Msg::from_frames([topic, body]))?;
    }
    for _ in 0..2 {
        let msg = pump_until(&mut [&mut sub, &mut publisher], |ends| {
            ends[0].socket.recv().ok().flatten()
        })?;
        println!("SUB got   {}", text(&msg));
    }
    Ok(())
}
