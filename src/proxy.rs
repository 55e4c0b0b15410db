//! A proxy (libzmq's `zmq_proxy` and `zmq_proxy_steerable`) as a sans-IO machine: it moves
//! messages between a frontend and a backend socket, copies each one to an optional
//! capture socket, and obeys PAUSE, RESUME, TERMINATE and STATISTICS.
//!
//! [`Proxy`] never touches a socket. Its driver offers it what a side received
//! ([`Proxy::handle_input`], only while [`Proxy::wants_input`] says so) and hands what it
//! decides to send to the sockets ([`Proxy::transmit`]). It holds at most one message per
//! direction: while the destination (or the capture) would block, that direction takes
//! nothing more from its source, so back-pressure reaches the source's peers through the
//! source socket's queues, and nothing is ever dropped or queued without bound.
//! [`Proxy::drive`] is that driver for two [`pattern::Socket`]s (what `sim::Network` runs);
//! `io::proxy` is the async one for `io::Socket`s.
//!
//! The proxy leaves messages as the sockets give them: a ROUTER frontend hands over the
//! sender's routing id as the first frame, a DEALER backend passes it on, and the reply
//! comes back with it to the ROUTER, which routes on it; an XPUB frontend hands over
//! subscriptions as `\x01prefix` / `\x00prefix` messages, which subscribe an XSUB backend
//! upstream.
//!
//! It lives above [`pattern`] (it drives whole sockets) and below [`sim`](crate::sim) and
//! `io`, which run it.
//!
//! ```
//! use zmq_sansio::Msg;
//! use zmq_sansio::proxy::{Proxy, Side};
//!
//! let mut proxy = Proxy::new(false);
//! assert!(proxy.wants_input(Side::Frontend));
//! proxy.handle_input(Side::Frontend, Msg::from("job")).unwrap();
//! // The backend would block: the message stays, and the frontend is not read meanwhile.
//! proxy.transmit(Side::Backend.into(), Err);
//! assert!(!proxy.wants_input(Side::Frontend));
//! let mut sent = Vec::new();
//! proxy.transmit(Side::Backend.into(), |msg| { sent.push(msg); Ok(()) });
//! assert_eq!(sent, [Msg::from("job")]);
//! assert_eq!(proxy.statistics().backend.sent.frames, 1);
//! ```

use bytes::Bytes;

use crate::Msg;
use crate::pattern::{self, SendError};

/// One of the two sockets a proxy joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Where clients (or publishers, for a forwarder) connect.
    Frontend,
    /// Where workers (or subscribers) connect.
    Backend,
}

impl Side {
    /// The side messages from this one go to.
    pub fn other(self) -> Self {
        match self {
            Self::Frontend => Self::Backend,
            Self::Backend => Self::Frontend,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A socket the proxy sends to: one of its sides, or the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Output {
    /// One of the proxied sockets.
    Side(Side),
    /// The capture socket, which gets a copy of every message forwarded either way.
    Capture,
}

impl From<Side> for Output {
    fn from(side: Side) -> Self {
        Self::Side(side)
    }
}

/// What the proxy is doing, as steered by [`Command`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum State {
    /// Forwarding both ways.
    #[default]
    Active,
    /// Taking nothing from either side: messages wait in the sockets' queues (and, once
    /// those are full, in the peers'), as in libzmq. A message taken before still goes.
    Paused,
    /// Done: the driver should stop.
    Terminated,
}

/// A steering command: libzmq's control-socket strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `PAUSE`: stop taking messages.
    Pause,
    /// `RESUME`: take messages again.
    Resume,
    /// `TERMINATE`: stop for good.
    Terminate,
    /// `STATISTICS`: report the counters.
    Statistics,
}

impl Command {
    /// The command a control message's first frame names, as libzmq spells it (exact, case
    /// sensitive); `None` for anything else, which libzmq ignores.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        match frame {
            b"PAUSE" => Some(Self::Pause),
            b"RESUME" => Some(Self::Resume),
            b"TERMINATE" => Some(Self::Terminate),
            b"STATISTICS" => Some(Self::Statistics),
            _ => None,
        }
    }

    /// The string libzmq's control socket expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "PAUSE",
            Self::Resume => "RESUME",
            Self::Terminate => "TERMINATE",
            Self::Statistics => "STATISTICS",
        }
    }
}

/// A count of message parts and their octets.
///
/// libzmq counts frames (its `zmq_msg_t` is one frame), so a three-frame message counts
/// three here too: the numbers match what `zmq_proxy_steerable` reports for the same
/// traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    /// Frames.
    pub frames: u64,
    /// Octets of the frames' bodies.
    pub octets: u64,
}

impl Counter {
    fn add(&mut self, msg: &Msg) {
        self.frames += msg.len() as u64;
        self.octets += msg.byte_len() as u64;
    }
}

/// What one side of the proxy received and sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SideStatistics {
    /// Taken from this side's socket.
    pub received: Counter,
    /// Accepted by this side's socket.
    pub sent: Counter,
}

/// The eight counters of `zmq_proxy_steerable`'s STATISTICS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statistics {
    /// The frontend's counters.
    pub frontend: SideStatistics,
    /// The backend's counters.
    pub backend: SideStatistics,
}

impl Statistics {
    /// The counters in libzmq's order: frontend received frames and octets, frontend sent
    /// frames and octets, then the same for the backend.
    pub fn to_array(&self) -> [u64; 8] {
        let [f, b] = [self.frontend, self.backend];
        [
            f.received.frames,
            f.received.octets,
            f.sent.frames,
            f.sent.octets,
            b.received.frames,
            b.received.octets,
            b.sent.frames,
            b.sent.octets,
        ]
    }

    /// The reply libzmq's control socket gives to STATISTICS: eight frames of one
    /// native-endian `u64` each, in [`Statistics::to_array`]'s order.
    pub fn to_msg(&self) -> Msg {
        self.to_array()
            .iter()
            .map(|value| Bytes::copy_from_slice(&value.to_ne_bytes()))
            .collect()
    }

    /// Reads a STATISTICS reply ([`Statistics::to_msg`], or libzmq's); `None` if it is not
    /// eight frames of eight octets.
    pub fn from_msg(msg: &Msg) -> Option<Self> {
        let mut values = [0u64; 8];
        if msg.len() != values.len() {
            return None;
        }
        for (value, frame) in values.iter_mut().zip(msg.frames()) {
            *value = u64::from_ne_bytes(frame[..].try_into().ok()?);
        }
        let counter = |i: usize| Counter {
            frames: values[i],
            octets: values[i + 1],
        };
        let side = |i: usize| SideStatistics {
            received: counter(i),
            sent: counter(i + 2),
        };
        Some(Self {
            frontend: side(0),
            backend: side(4),
        })
    }

    fn side_mut(&mut self, side: Side) -> &mut SideStatistics {
        match side {
            Side::Frontend => &mut self.frontend,
            Side::Backend => &mut self.backend,
        }
    }
}

/// What one direction has taken from its source and not yet handed on.
#[derive(Debug, Default)]
struct InFlight {
    /// For the destination socket.
    forward: Option<Msg>,
    /// The capture's copy.
    capture: Option<Msg>,
}

impl InFlight {
    fn is_empty(&self) -> bool {
        self.forward.is_none() && self.capture.is_none()
    }
}

/// The proxy machine: what to take from each side and what to send where. See the
/// [module documentation](self).
#[derive(Debug, Default)]
pub struct Proxy {
    state: State,
    capture: bool,
    /// Indexed by the source side ([`Side::index`]).
    in_flight: [InFlight; 2],
    statistics: Statistics,
}

impl Proxy {
    /// A proxy, active, with a capture socket or without.
    pub fn new(capture: bool) -> Self {
        Self {
            capture,
            ..Self::default()
        }
    }

    /// Whether the proxy copies messages to a capture socket.
    pub fn has_capture(&self) -> bool {
        self.capture
    }

    /// Active, paused or terminated.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the proxy is done ([`Command::Terminate`]).
    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// The counters so far.
    pub fn statistics(&self) -> Statistics {
        self.statistics
    }

    /// Messages taken and not yet handed on (at most one per direction, plus its capture
    /// copy).
    pub fn held(&self) -> usize {
        self.in_flight
            .iter()
            .map(|f| usize::from(f.forward.is_some()) + usize::from(f.capture.is_some()))
            .sum()
    }

    /// Obeys a command. [`Command::Statistics`] changes nothing (read
    /// [`Proxy::statistics`]); after [`Command::Terminate`] no other command has an effect.
    pub fn command(&mut self, command: Command) {
        if self.is_terminated() {
            return;
        }
        match command {
            Command::Pause => self.state = State::Paused,
            Command::Resume => self.state = State::Active,
            Command::Terminate => self.state = State::Terminated,
            Command::Statistics => {}
        }
    }

    /// A message from a control socket, as libzmq's proxy takes it: the first frame names
    /// the command. Returns the reply libzmq sends: the statistics for STATISTICS; `None`
    /// for anything else (a REP control socket must still answer: libzmq sends it an empty
    /// frame).
    pub fn handle_control(&mut self, request: &Msg) -> Option<Msg> {
        let command = Command::parse(request.first().map_or(&[][..], |f| &f[..]))?;
        self.command(command);
        (command == Command::Statistics).then(|| self.statistics.to_msg())
    }

    /// Whether to take the next message that `from`'s socket received: the proxy is active
    /// and the message before from that side has been handed on.
    pub fn wants_input(&self, from: Side) -> bool {
        self.state == State::Active && self.in_flight[from.index()].is_empty()
    }

    /// A message `from`'s socket received, to forward to the other side (and copy to the
    /// capture). Handed back if [`Proxy::wants_input`] says no.
    pub fn handle_input(&mut self, from: Side, msg: Msg) -> Result<(), Msg> {
        if !self.wants_input(from) {
            return Err(msg);
        }
        self.statistics.side_mut(from).received.add(&msg);
        let in_flight = &mut self.in_flight[from.index()];
        in_flight.capture = self.capture.then(|| msg.clone());
        in_flight.forward = Some(msg);
        Ok(())
    }

    /// Whether there is something for `to`.
    pub fn has_output(&self, to: Output) -> bool {
        match to {
            Output::Side(side) => self.in_flight[side.other().index()].forward.is_some(),
            Output::Capture => self.in_flight.iter().any(|f| f.capture.is_some()),
        }
    }

    /// Hands what waits for `to` to `send`, in order, until it is all gone or `send` hands
    /// a message back (`Err(msg)`: the socket would block; offer it again later). Returns
    /// whether anything was sent. Capture copies go frontend's first.
    pub fn transmit(&mut self, to: Output, mut send: impl FnMut(Msg) -> Result<(), Msg>) -> bool {
        let mut sent = false;
        for source in [Side::Frontend, Side::Backend] {
            if to != Output::Side(source.other()) && to != Output::Capture {
                continue;
            }
            let in_flight = &mut self.in_flight[source.index()];
            let slot = match to {
                Output::Side(_) => &mut in_flight.forward,
                Output::Capture => &mut in_flight.capture,
            };
            let Some(msg) = slot.take() else {
                continue;
            };
            let counted = matches!(to, Output::Side(_)).then(|| (msg.len(), msg.byte_len()));
            match send(msg) {
                Ok(()) => {
                    sent = true;
                    if let Some((frames, octets)) = counted {
                        let counter = &mut self.statistics.side_mut(source.other()).sent;
                        counter.frames += frames as u64;
                        counter.octets += octets as u64;
                    }
                }
                Err(msg) => {
                    *slot = Some(msg);
                    // Later sources wait behind this one on the same socket.
                    break;
                }
            }
        }
        sent
    }

    /// Runs the proxy between two [`pattern::Socket`]s (and a capture) until nothing more
    /// moves now: takes what each side has received while the proxy wants it and sends it
    /// on. Returns whether anything moved. An error of a socket's `send` other than
    /// "would block" (the pattern refusing the message, as a REP would one it owes no
    /// reply to) drops that message, as libzmq's proxy ends; `recv` errors count as nothing
    /// received.
    pub fn drive(
        &mut self,
        frontend: &mut pattern::Socket,
        backend: &mut pattern::Socket,
        mut capture: Option<&mut pattern::Socket>,
    ) -> bool {
        let mut moved = false;
        loop {
            let mut progress = false;
            for (to, socket) in [
                (Side::Frontend, &mut *frontend),
                (Side::Backend, &mut *backend),
            ] {
                progress |= self.transmit(to.into(), |msg| send_to(socket, msg));
            }
            if let Some(capture) = capture.as_deref_mut() {
                progress |= self.transmit(Output::Capture, |msg| send_to(capture, msg));
            } else {
                // Without a capture socket nothing must wait for one.
                for in_flight in &mut self.in_flight {
                    in_flight.capture = None;
                }
            }
            for (from, socket) in [
                (Side::Frontend, &mut *frontend),
                (Side::Backend, &mut *backend),
            ] {
                if self.wants_input(from)
                    && let Ok(Some(msg)) = socket.recv()
                {
                    self.handle_input(from, msg)
                        .expect("the proxy wanted this input");
                    progress = true;
                }
            }
            if !progress {
                return moved;
            }
            moved = true;
        }
    }
}

/// A socket's `send` as [`Proxy::transmit`] wants it: only "would block" hands the message
/// back.
fn send_to(socket: &mut pattern::Socket, msg: Msg) -> Result<(), Msg> {
    match socket.send(msg) {
        Ok(()) => Ok(()),
        Err(SendError::WouldBlock(msg)) => Err(msg),
        Err(err) => {
            log::debug!("proxy: {:?} refused a message: {err}", socket.socket_type());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_strings_steer_and_report() {
        let mut proxy = Proxy::new(false);
        proxy.handle_input(Side::Backend, Msg::from("abc")).unwrap();
        assert_eq!(proxy.handle_control(&Msg::from("PAUSE")), None);
        assert_eq!(proxy.state(), State::Paused);
        assert!(!proxy.wants_input(Side::Frontend));
        assert_eq!(proxy.handle_control(&Msg::from("pause")), None);
        assert_eq!(proxy.state(), State::Paused);
        proxy.handle_control(&Msg::from("RESUME"));
        assert!(proxy.wants_input(Side::Frontend));
        let stats = proxy.handle_control(&Msg::from("STATISTICS")).unwrap();
        assert_eq!(stats.len(), 8);
        let stats = Statistics::from_msg(&stats).unwrap();
        assert_eq!(
            stats.backend.received,
            Counter {
                frames: 1,
                octets: 3
            }
        );
        assert_eq!(stats, proxy.statistics());
        proxy.handle_control(&Msg::from("TERMINATE"));
        proxy.handle_control(&Msg::from("RESUME"));
        assert!(proxy.is_terminated());
    }

    #[test]
    fn a_blocked_capture_holds_its_direction_only() {
        let mut proxy = Proxy::new(true);
        proxy.handle_input(Side::Frontend, Msg::from("a")).unwrap();
        proxy.handle_input(Side::Backend, Msg::from("b")).unwrap();
        assert!(proxy.transmit(Side::Backend.into(), |_| Ok(())));
        assert!(proxy.transmit(Side::Frontend.into(), |_| Ok(())));
        // The capture takes the frontend's copy, then blocks on the backend's.
        let mut first = true;
        proxy.transmit(Output::Capture, |msg| {
            std::mem::take(&mut first).then_some(()).ok_or(msg)
        });
        assert!(proxy.wants_input(Side::Frontend));
        assert!(!proxy.wants_input(Side::Backend));
        assert_eq!(proxy.held(), 1);
    }
}
