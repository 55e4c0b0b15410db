//! Proxies between io sockets: [`proxy`] (libzmq's `zmq_proxy`) and [`SteerableProxy`]
//! (`zmq_proxy_steerable`), which run the sans-IO [`crate::proxy::Proxy`] machine.
//!
//! One future waits on both sides at once (and on the capture and control sockets): it
//! registers its waker with every socket it waits on and sleeps until one of them, or a
//! [`ProxyControl`], wakes it, so an idle proxy takes no CPU. A send that would block keeps
//! its message in the machine, which then takes nothing more from the side it came from:
//! the source socket's queue fills and its peers are held back in turn, as in libzmq.

use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::{Error, Socket};
use crate::Msg;
use crate::proto::SocketType;
use crate::proxy::{Command, Output, Proxy, Side, State, Statistics};

/// Messages moved in one poll before the proxy lets other tasks of its executor run
/// (libzmq's proxy forwards in bursts of the same size).
const BURST: usize = 1000;

/// Runs a proxy between `frontend` and `backend`, copying every message to `capture` if
/// given, until a socket is closed: libzmq's `zmq_proxy`. Pass clones; the sockets stay
/// usable elsewhere (closing one ends the proxy).
///
/// A forwarder is an XSUB frontend and an XPUB backend (subscriptions flow up, messages
/// down); a request broker is a ROUTER frontend and a DEALER backend (routing ids travel
/// with each request and bring the reply back). See `examples/forwarder.rs` and
/// `examples/broker.rs`.
pub async fn proxy(
    frontend: Socket,
    backend: Socket,
    capture: Option<Socket>,
) -> Result<(), ProxyError> {
    let mut proxy = SteerableProxy::new(frontend, backend);
    if let Some(capture) = capture {
        proxy = proxy.capture(capture);
    }
    proxy.run().await
}

/// Which socket of a proxy an error concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxySocket {
    /// The frontend.
    Frontend,
    /// The backend.
    Backend,
    /// The capture socket.
    Capture,
    /// The control socket.
    Control,
}

impl fmt::Display for ProxySocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Frontend => "frontend",
            Self::Backend => "backend",
            Self::Capture => "capture",
            Self::Control => "control",
        })
    }
}

impl From<Output> for ProxySocket {
    fn from(output: Output) -> Self {
        match output {
            Output::Side(Side::Frontend) => Self::Frontend,
            Output::Side(Side::Backend) => Self::Backend,
            Output::Capture => Self::Capture,
        }
    }
}

/// Why a proxy stopped other than by [`ProxyControl::terminate`] or a TERMINATE command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// One of its sockets was closed.
    #[error("the proxy's {0} socket is closed")]
    Closed(ProxySocket),
    /// One of its sockets refused a message or a receive (as libzmq's proxy, it stops: a
    /// ROUTER with `router_mandatory` and no peer for a reply, say).
    #[error("the proxy's {socket} socket failed: {source}")]
    Socket {
        /// The socket.
        socket: ProxySocket,
        /// What it said.
        source: Error,
    },
}

impl ProxyError {
    fn from_socket(socket: ProxySocket, err: Error) -> Self {
        match err {
            Error::Closed => Self::Closed(socket),
            source => Self::Socket { socket, source },
        }
    }
}

/// The machine and the waker of the future running it, shared with every [`ProxyControl`].
#[derive(Debug, Default)]
struct Steering {
    proxy: Proxy,
    waker: Option<Waker>,
}

/// A handle that steers a running [`SteerableProxy`] from anywhere: cheap to clone, usable
/// from any thread, without async. Commands take effect at the proxy's next step.
#[derive(Debug, Clone)]
pub struct ProxyControl {
    steering: Arc<Mutex<Steering>>,
}

impl ProxyControl {
    fn lock(&self) -> MutexGuard<'_, Steering> {
        lock(&self.steering)
    }

    fn command(&self, command: Command) {
        let waker = {
            let mut steering = self.lock();
            steering.proxy.command(command);
            steering.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Stops taking messages from either side (libzmq's PAUSE); they wait in the sockets'
    /// queues. A message already taken is still delivered.
    pub fn pause(&self) {
        self.command(Command::Pause);
    }

    /// Takes messages again (RESUME).
    pub fn resume(&self) {
        self.command(Command::Resume);
    }

    /// Ends the proxy (TERMINATE): its future returns `Ok(())`.
    pub fn terminate(&self) {
        self.command(Command::Terminate);
    }

    /// Active, paused or terminated.
    pub fn state(&self) -> State {
        self.lock().proxy.state()
    }

    /// The counters so far (STATISTICS): frames and octets received and sent per side.
    pub fn statistics(&self) -> Statistics {
        self.lock().proxy.statistics()
    }
}

/// Whether a socket type receives at all: a PUSH or PUB side of a streamer or forwarder
/// only ever sends (its `recv` would be an error, not a wait).
fn receives(socket_type: SocketType) -> bool {
    !matches!(socket_type, SocketType::Push | SocketType::Pub)
}

fn lock(steering: &Mutex<Steering>) -> MutexGuard<'_, Steering> {
    steering
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A proxy that can be paused, resumed, terminated and asked for statistics
/// (`zmq_proxy_steerable`): through a [`ProxyControl`] from Rust, or through a control
/// socket that takes libzmq's command strings.
///
/// ```
/// # smol::block_on(async {
/// use zmq_sansio::io::{Socket, SteerableProxy};
/// use zmq_sansio::proto::SocketType;
///
/// let frontend = Socket::new(SocketType::Router);
/// let backend = Socket::new(SocketType::Dealer);
/// frontend.bind("tcp://127.0.0.1:*")?;
/// backend.bind("tcp://127.0.0.1:*")?;
/// let proxy = SteerableProxy::new(frontend, backend);
/// let control = proxy.control();
/// let running = smol::spawn(proxy.run());
/// control.terminate();
/// running.await.unwrap();
/// # Ok::<(), zmq_sansio::io::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct SteerableProxy {
    frontend: Socket,
    backend: Socket,
    capture: Option<Socket>,
    control: Option<Socket>,
    steering: Arc<Mutex<Steering>>,
}

impl SteerableProxy {
    /// A proxy between two sockets, active, with no capture and no control socket.
    pub fn new(frontend: Socket, backend: Socket) -> Self {
        Self {
            frontend,
            backend,
            capture: None,
            control: None,
            steering: Arc::default(),
        }
    }

    /// Copies every message forwarded either way to `capture` (a PUB, PUSH or PAIR, say).
    /// A capture that would block holds up the direction whose copy waits.
    pub fn capture(mut self, capture: Socket) -> Self {
        self.capture = Some(capture);
        lock(&self.steering).proxy = Proxy::new(true);
        self
    }

    /// Also takes commands from `control`, as libzmq's: a message whose first frame is
    /// `PAUSE`, `RESUME`, `TERMINATE` or `STATISTICS` (anything else is ignored).
    /// STATISTICS is answered with eight frames of one native-endian `u64` each
    /// ([`Statistics::to_msg`]); a REP control socket gets an empty reply to the others.
    pub fn control_socket(mut self, control: Socket) -> Self {
        self.control = Some(control);
        self
    }

    /// A handle to steer the proxy once it runs.
    pub fn control(&self) -> ProxyControl {
        ProxyControl {
            steering: Arc::clone(&self.steering),
        }
    }

    /// Runs the proxy until it is terminated (`Ok`) or one of its sockets fails or closes.
    /// While paused it waits for a command only (a socket closed meanwhile is noticed once
    /// it resumes).
    pub async fn run(self) -> Result<(), ProxyError> {
        let mut control_reply = None;
        poll_fn(|cx| self.poll_run(cx, &mut control_reply)).await
    }

    fn poll_run(
        &self,
        cx: &mut Context<'_>,
        control_reply: &mut Option<Msg>,
    ) -> Poll<Result<(), ProxyError>> {
        let mut steering = lock(&self.steering);
        if !steering
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            steering.waker = Some(cx.waker().clone());
        }
        let proxy = &mut steering.proxy;
        let mut moved = 0;
        loop {
            let mut progress = self.poll_control(cx, proxy, control_reply)?;
            progress |= self.poll_transmit(cx, proxy)?;
            if proxy.is_terminated() {
                // What was taken had its chance to go just now; the rest stays unsent, as
                // messages still in the sockets' queues do.
                return Poll::Ready(Ok(()));
            }
            for (side, socket) in [
                (Side::Frontend, &self.frontend),
                (Side::Backend, &self.backend),
            ] {
                if !proxy.wants_input(side) || !receives(socket.socket_type()) {
                    continue;
                }
                match socket.poll_recv(cx) {
                    Poll::Ready(Ok(msg)) => {
                        proxy
                            .handle_input(side, msg)
                            .expect("the proxy wanted this input");
                        progress = true;
                    }
                    Poll::Ready(Err(err)) => {
                        return Poll::Ready(Err(ProxyError::from_socket(
                            Output::Side(side).into(),
                            err,
                        )));
                    }
                    Poll::Pending => {}
                }
            }
            if !progress {
                // Every socket we wait on has our waker: a message, room, or a command
                // wakes us.
                return Poll::Pending;
            }
            moved += 1;
            if moved == BURST {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }

    /// Sends what the machine holds for each socket; whether anything went.
    fn poll_transmit(&self, cx: &mut Context<'_>, proxy: &mut Proxy) -> Result<bool, ProxyError> {
        let mut progress = false;
        let outputs = [
            (Output::Side(Side::Frontend), Some(&self.frontend)),
            (Output::Side(Side::Backend), Some(&self.backend)),
            (Output::Capture, self.capture.as_ref()),
        ];
        for (output, socket) in outputs {
            let Some(socket) = socket else { continue };
            let mut failure = None;
            progress |= proxy.transmit(output, |msg| {
                let mut slot = Some(msg);
                match socket.poll_send(cx, &mut slot) {
                    Poll::Ready(Ok(())) => Ok(()),
                    Poll::Ready(Err(err)) => {
                        failure = Some(err);
                        Ok(())
                    }
                    Poll::Pending => Err(slot.expect("a pending send keeps its message")),
                }
            });
            if let Some(err) = failure {
                return Err(ProxyError::from_socket(output.into(), err));
            }
        }
        Ok(progress)
    }

    /// Takes a command from the control socket and sends its reply; whether anything moved.
    fn poll_control(
        &self,
        cx: &mut Context<'_>,
        proxy: &mut Proxy,
        reply: &mut Option<Msg>,
    ) -> Result<bool, ProxyError> {
        let Some(control) = &self.control else {
            return Ok(false);
        };
        let failed = |err| ProxyError::from_socket(ProxySocket::Control, err);
        let mut progress = false;
        loop {
            if reply.is_some() {
                match control.poll_send(cx, reply) {
                    Poll::Ready(Ok(())) => progress = true,
                    // A control socket that cannot answer (PULL, SUB) is still obeyed.
                    Poll::Ready(Err(Error::Send(_))) => *reply = None,
                    Poll::Ready(Err(err)) => return Err(failed(err)),
                    Poll::Pending => return Ok(progress),
                }
            }
            match control.poll_recv(cx) {
                Poll::Ready(Ok(request)) => {
                    progress = true;
                    *reply = proxy.handle_control(&request).or_else(|| {
                        (control.socket_type() == SocketType::Rep).then(|| Msg::from(""))
                    });
                }
                Poll::Ready(Err(err)) => return Err(failed(err)),
                Poll::Pending => return Ok(progress),
            }
        }
    }
}
