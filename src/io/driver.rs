//! The driver of one connection: a hand-written future that reads, writes and keeps time
//! for one peer at once, over any `AsyncRead + AsyncWrite` byte stream.
//!
//! The driver owns its peer's [`Link`] (the ZMTP connection): decoding, encoding, the
//! handshake and heartbeats happen without the socket's lock, which is taken only to hand
//! decoded input to the pattern and to take the peer's queued output. Reads and writes
//! proceed independently (a peer that stops reading cannot stop us from reading it, which
//! would deadlock two peers that both send), writes are vectored batches of the
//! connection's output chunks, and no operation is ever cancelled half-way.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};

use super::auth::AuthFuture;
use super::inline::lock;
use super::runtime::Timer;
use super::shared::Shared;
use crate::pattern::{Link, PeerError, PeerId, PeerOutput};
use crate::proto::ConnectionError;
use crate::security::{AuthDecision, AuthStatus};

/// Octets read per call: large enough to decode many frames per lock.
const READ_BUFFER: usize = 64 * 1024;

thread_local! {
    /// The buffer reads land in before the connection copies them into its own slabs. One per
    /// thread, not one per connection: it is only borrowed between a read and the decoding
    /// of what it read, and an idle connection should not cost 64 KiB.
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUFFER].into_boxed_slice());
}
/// Output taken from the connection per round, at most.
const WRITE_BATCH: usize = 256 * 1024;
/// Chunks handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Loop rounds per poll before yielding to other tasks.
const ROUNDS: usize = 32;
/// Time left to a failing connection to send its last words (an ERROR command).
const FLUSH_GRACE: Duration = Duration::from_secs(1);

/// How a connection ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// The peer closed the transport.
    PeerClosed,
    /// The connection failed (protocol error, handshake, heartbeat, refused by the pattern).
    Failed(PeerError),
    /// The transport failed.
    Io(io::Error),
    /// We asked it to stop (disconnect, unbind, close).
    Stopped,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("the peer closed the connection"),
            Self::Failed(err) => write!(f, "{err}"),
            Self::Io(err) => write!(f, "transport error: {err}"),
            Self::Stopped => f.write_str("closed locally"),
        }
    }
}

/// Waits for a stream to become readable without reading it (`Async::poll_readable`).
pub(crate) type ReadProbe<S> = fn(&S, &mut Context<'_>) -> Poll<io::Result<()>>;

pub(crate) struct Driver<S> {
    shared: Arc<Shared>,
    peer: PeerId,
    /// The peer's connection, decoded and encoded here, outside the socket's lock.
    link: Link,
    /// Output taken from the pattern under the lock, encoded after it is released.
    outputs: Vec<PeerOutput>,
    stream: S,
    /// For streams that can tell: after a short read the driver waits on this rather than
    /// reading again to find the stream empty (two futile system calls per wake-up).
    probe: Option<ReadProbe<S>>,
    out: VecDeque<Bytes>,
    /// Octets of `out`'s first chunk already written.
    written: usize,
    out_bytes: usize,
    needs_flush: bool,
    /// Armed for `timer_at`; made on the first deadline (an idle peer needs none).
    timer: Option<Pin<Box<dyn Timer>>>,
    timer_at: Option<Instant>,
    /// Set once the connection has failed: the rest of the output is flushed until the
    /// deadline, then the driver ends with this.
    failing: Option<(Ended, Instant)>,
    /// Whether the stream may have data to read.
    readable: Arc<ReadReady>,
    /// The peer's transport address, for the authenticator.
    address: String,
    /// The authenticator deciding on this client.
    deciding: Option<AuthFuture>,
}

/// The waker handed to reads: it notes that the stream became readable, then wakes whoever
/// reads for the connection: a caller waiting in `recv` that claimed the reading (see
/// [`super::inline`]), or else the driver's task.
#[derive(Debug)]
pub(crate) struct ReadReady {
    ready: AtomicBool,
    task: Mutex<Option<Waker>>,
    /// A caller that reads for the connection when the stream becomes readable.
    caller: Mutex<Claim>,
}

/// Who was told of the latest readiness, when a caller claims the reading.
#[derive(Debug, Default)]
struct Claim {
    waker: Option<Waker>,
    /// The thread the caller claimed from.
    thread: Option<std::thread::ThreadId>,
    /// A readiness went to the claiming caller, which has not read yet: if it lets go
    /// of its claim without reading, the task must be woken to read instead.
    owed: bool,
}

impl ReadReady {
    fn new() -> Self {
        Self {
            ready: AtomicBool::new(true),
            task: Mutex::new(None),
            caller: Mutex::new(Claim::default()),
        }
    }

    fn set_task(&self, waker: &Waker) {
        let mut task = lock(&self.task);
        if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
            *task = Some(waker.clone());
        }
    }

    fn wake_task(&self) {
        if let Some(task) = &*lock(&self.task) {
            task.wake_by_ref();
        }
    }

    /// Whether a caller was told of a readiness and has not read yet.
    pub(crate) fn owed_to_caller(&self) -> bool {
        lock(&self.caller).owed
    }

    /// Whether the stream may have data nobody has read yet.
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The next readiness wakes `waker` instead of the task.
    pub(crate) fn claim(&self, waker: &Waker) {
        let mut claim = lock(&self.caller);
        if !claim.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            claim.waker = Some(waker.clone());
        }
        claim.thread = Some(std::thread::current().id());
    }

    /// Whether a readiness went to the claiming caller since it last asked; it then reads.
    pub(crate) fn take_owed(&self) -> bool {
        std::mem::take(&mut lock(&self.caller).owed)
    }

    /// The caller lets go of its claim; a readiness it was told of and did not act on
    /// goes to the task.
    pub(crate) fn release(&self) {
        let owed = {
            let mut claim = lock(&self.caller);
            claim.waker = None;
            std::mem::take(&mut claim.owed)
        };
        if owed {
            self.wake_task();
        }
    }
}

impl Wake for ReadReady {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::SeqCst);
        let (caller, owed, elsewhere) = {
            let mut claim = lock(&self.caller);
            let waker = claim.waker.take();
            // Under the claim's lock, so that a `release` racing with this wake either
            // comes first (and the task is woken here) or sees the debt.
            let owed = claim.owed;
            claim.owed |= waker.is_some();
            let elsewhere = claim.thread != Some(std::thread::current().id());
            (waker, owed, elsewhere)
        };
        match caller {
            Some(caller) => {
                caller.wake();
                // A caller on another thread than the reactor's: the task is woken too,
                // and stands aside while the caller owes the read
                // (`DriverCell::poll_task`). Its wake-up keeps the reactor's thread
                // driving the reactor: async-io's `block_on` stops after 500 µs without
                // a wake-up of its own, and a caller under another executor's `block_on`
                // (which never drives it) would then wait for async-io's own thread,
                // which polls with a backoff of up to 10 ms.
                if elsewhere {
                    self.wake_task();
                }
            }
            // The caller told of an earlier readiness reads this one too.
            None if owed => {}
            None => self.wake_task(),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// A driver for `peer`, whose `PeerTask` must already be registered.
    pub(crate) fn new(
        shared: Arc<Shared>,
        peer: PeerId,
        link: Link,
        stream: S,
        probe: Option<ReadProbe<S>>,
        address: String,
    ) -> Self {
        Self {
            address,
            deciding: None,
            shared,
            peer,
            link,
            outputs: Vec::new(),
            stream,
            probe,
            out: VecDeque::new(),
            written: 0,
            out_bytes: 0,
            needs_flush: false,
            timer: None,
            timer_at: None,
            failing: None,
            readable: Arc::new(ReadReady::new()),
        }
    }

    /// The connection, once the driver has ended (what it decoded is still to be
    /// delivered when it closes).
    pub(crate) fn link_mut(&mut self) -> &mut Link {
        &mut self.link
    }

    /// The peer this driver serves.
    pub(crate) fn peer(&self) -> PeerId {
        self.peer
    }

    /// Where the stream's readiness goes (a caller may claim it).
    pub(crate) fn readable(&self) -> &Arc<ReadReady> {
        &self.readable
    }

    /// Notes an error of the connection (decoding, a timer) or the pattern (refused).
    fn fail_with(&mut self, err: impl Into<PeerError>, now: Instant) {
        if self.failing.is_none() {
            self.failing = Some((Ended::Failed(err.into()), now + FLUSH_GRACE));
        }
    }

    /// Runs due timers (outside the lock); then, under it, stop requests, input held back
    /// by a full queue, new output and flush bookkeeping; then encodes that output and
    /// takes the connection's octets. Returns whether to read, and the next deadline.
    fn sync(&mut self, cx: &Context<'_>) -> Result<(bool, Option<Instant>), Ended> {
        let now = self.shared.runtime.now();
        if self.failing.is_none()
            && self.link.poll_timeout().is_some_and(|at| at <= now)
            && let Err(err) = self.link.handle_timeout(now)
        {
            self.fail_with(err, now);
        }
        let mut guard = self.shared.lock();
        let inner = &mut *guard;
        let Some(task) = inner.peers.get_mut(&self.peer) else {
            return Err(Ended::Stopped);
        };
        if task.stop {
            return Err(Ended::Stopped);
        }
        if !task.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            task.waker = Some(cx.waker().clone());
        }
        // Input held back by a full queue is offered again (the queue may have room now).
        if self.failing.is_none()
            && !self.link.wants_input()
            && let Err(err) = inner.core.deliver(self.peer, &mut self.link)
        {
            self.failing = Some((Ended::Failed(err), now + FLUSH_GRACE));
        }
        if self.out_bytes < WRITE_BATCH {
            inner
                .core
                .take_outputs(self.peer, &self.link, &mut self.outputs);
        }
        let mut state_waiters = Vec::new();
        if inner.closing {
            let queued = inner.core.stats(self.peer).map_or(0, |s| s.outbound_msgs);
            let flushed = self.out.is_empty()
                && self.outputs.is_empty()
                && self.link.pending_transmit() == 0
                && queued == 0;
            let task = inner.peers.get_mut(&self.peer).expect("checked above");
            if flushed && !task.flushed {
                task.flushed = true;
                state_waiters = std::mem::take(&mut inner.state_wakers);
            }
        }
        let wakeups = inner.dispatch();
        drop(guard);
        wakeups.wake();
        state_waiters.into_iter().for_each(std::task::Waker::wake);

        self.link.send_outputs(self.outputs.drain(..));
        while self.out_bytes < WRITE_BATCH {
            let Some(chunk) = self.link.poll_transmit() else {
                break;
            };
            self.out_bytes += chunk.len();
            self.out.push_back(chunk);
        }
        let wants_input = self.failing.is_none() && self.link.wants_input();
        let deadline = match &self.failing {
            Some((_, until)) => Some(*until),
            None => self.link.poll_timeout(),
        };
        Ok((wants_input, deadline))
    }

    /// Writes as much queued output as the stream takes; whether anything was written.
    fn write(&mut self, cx: &mut Context<'_>) -> Result<bool, Ended> {
        let mut progress = false;
        while !self.out.is_empty() {
            let mut slices: [IoSlice<'_>; MAX_IOVECS] = std::array::from_fn(|_| IoSlice::new(&[]));
            let mut count = 0;
            for (i, chunk) in self.out.iter().take(MAX_IOVECS).enumerate() {
                let start = if i == 0 { self.written } else { 0 };
                slices[i] = IoSlice::new(&chunk[start..]);
                count += 1;
            }
            match Pin::new(&mut self.stream).poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => return Err(Ended::Io(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(mut n)) => {
                    progress = true;
                    self.needs_flush = true;
                    self.out_bytes -= n;
                    while n > 0 {
                        let left = self.out[0].len() - self.written;
                        if n >= left {
                            n -= left;
                            self.out.pop_front();
                            self.written = 0;
                        } else {
                            self.written += n;
                            n = 0;
                        }
                    }
                }
                Poll::Ready(Err(err)) => return Err(Ended::Io(err)),
                Poll::Pending => return Ok(progress),
            }
        }
        if self.needs_flush {
            match Pin::new(&mut self.stream).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(err)) => return Err(Ended::Io(err)),
                Poll::Pending => {}
            }
        }
        Ok(progress)
    }

    /// Reads once if the stream has data; whether anything was read.
    fn read(&mut self, cx: &mut Context<'_>) -> Result<bool, Ended> {
        // Only read when the stream may have data: after data came, or after the reactor
        // said so. The task is also woken for writes and timers, and a read attempt that
        // finds nothing costs two system calls (the read and re-arming the poller).
        self.readable.set_task(cx.waker());
        if !self.readable.ready.swap(false, Ordering::SeqCst) {
            return Ok(false);
        }
        let read_waker = Waker::from(Arc::clone(&self.readable));
        let mut read_cx = Context::from_waker(&read_waker);
        // The body of a large frame is read straight into the buffer that becomes the
        // message; everything else through the thread's read buffer into the slab.
        let Self { link, stream, .. } = self;
        if let Some(room) = link.receive_in_place() {
            let len = room.len();
            return match Pin::new(stream).poll_read(&mut read_cx, room) {
                Poll::Ready(Ok(0)) => Err(self.end_of_stream()),
                Poll::Ready(Ok(n)) => {
                    self.after_read(n < len, &mut read_cx);
                    let now = self.shared.runtime.now();
                    let decoded = self.link.handle_received(n, now);
                    self.deliver(decoded, now);
                    Ok(true)
                }
                Poll::Ready(Err(err)) => Err(Ended::Io(err)),
                Poll::Pending => Ok(false),
            };
        }
        READ_BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => self.read_into(&mut read_cx, &mut buf),
            // Only if a stream's own `poll_read` drives another connection on this thread.
            Err(_) => self.read_into(&mut read_cx, &mut vec![0; READ_BUFFER]),
        })
    }

    fn read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Result<bool, Ended> {
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(0)) => Err(self.end_of_stream()),
            Poll::Ready(Ok(n)) => {
                self.after_read(n < buf.len(), cx);
                let now = self.shared.runtime.now();
                let decoded = self.link.handle_input(&buf[..n], now);
                self.deliver(decoded, now);
                Ok(true)
            }
            Poll::Ready(Err(err)) => Err(Ended::Io(err)),
            Poll::Pending => Ok(false), // `readable` is woken when data arrives
        }
    }

    /// After a read: whether to read again at once, or (after a short read, for streams
    /// that can tell) to wait for the reactor.
    fn after_read(&mut self, short: bool, cx: &mut Context<'_>) {
        match self.probe {
            Some(probe) if short => self.await_readable(probe, cx),
            _ => self.readable.ready.store(true, Ordering::SeqCst), // there may be more
        }
    }

    /// The peer closed the transport: an ordinary end once the handshake is done, an error
    /// that says what it likely means before.
    fn end_of_stream(&mut self) -> Ended {
        match self.link.handle_end_of_stream() {
            Some(err) => Ended::Failed(err.into()),
            None => Ended::PeerClosed,
        }
    }

    /// Hands what the connection decoded to the pattern, under the socket's lock; what was
    /// decoded before an error in the same octets is delivered first.
    fn deliver(&mut self, decoded: Result<(), ConnectionError>, now: Instant) {
        let (peer, link) = (self.peer, &mut self.link);
        let delivered = self.shared.with(|inner| inner.core.deliver(peer, link));
        match (decoded, delivered) {
            (Err(err), _) => self.fail_with(err, now),
            (Ok(()), Err(err)) => self.fail_with(err, now),
            (Ok(()), Ok(())) => {}
        }
    }

    /// A short read emptied the stream: registers for the next readiness instead of
    /// reading again. The reactor may first report the readiness that is already consumed;
    /// the second call then registers.
    fn await_readable(&mut self, probe: ReadProbe<S>, cx: &mut Context<'_>) {
        self.readable.ready.store(false, Ordering::SeqCst);
        for _ in 0..2 {
            match probe(&self.stream, cx) {
                Poll::Pending => return,
                Poll::Ready(Ok(())) => {}
                // Let the next read report it.
                Poll::Ready(Err(_)) => break,
            }
        }
        self.readable.ready.store(true, Ordering::SeqCst);
    }

    /// Starts the authenticator on a client waiting for a decision, and hands its decision
    /// to the connection; whether anything happened.
    fn poll_auth(&mut self, cx: &mut Context<'_>) -> bool {
        if self.deciding.is_none() {
            let Some(mut request) = self.link.poll_auth_request() else {
                return false;
            };
            request.address = self.address.clone();
            self.deciding = Some(match &self.shared.authenticator {
                // A sync authenticator runs here and now: its panic must not take the
                // connection task either.
                Some(authenticator) => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        authenticator.decide(request)
                    }))
                    .unwrap_or_else(|_| {
                        Box::pin(std::future::ready(AuthDecision::deny_with(
                            AuthStatus::InternalError,
                            "the authenticator panicked",
                        )))
                    })
                }
                // Options that ask without an authenticator to answer: nobody may vouch
                // for the client.
                None => Box::pin(std::future::ready(AuthDecision::deny_with(
                    AuthStatus::InternalError,
                    "the socket asks for authentication but has no authenticator",
                ))),
            });
        }
        let Some(deciding) = self.deciding.as_mut() else {
            return false;
        };
        // An authenticator that panics refuses the client instead of taking the connection
        // task (and the client's wait) with it.
        let polled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deciding.as_mut().poll(cx)));
        let decision = match polled {
            Ok(Poll::Ready(decision)) => decision,
            Ok(Poll::Pending) => return false,
            Err(_) => {
                AuthDecision::deny_with(AuthStatus::InternalError, "the authenticator panicked")
            }
        };
        self.deciding = None;
        if let AuthDecision::Deny { status, text } = &decision {
            log::info!(
                "{}: client {} refused ({status}): {text}",
                self.peer,
                self.address
            );
        }
        let now = self.shared.runtime.now();
        let result = self.link.authenticate(decision, now);
        self.deliver(result, now);
        true
    }

    /// Arms the timer for `deadline`; whether it has already fired.
    fn poll_timer(&mut self, cx: &mut Context<'_>, deadline: Option<Instant>) -> bool {
        if deadline != self.timer_at {
            self.timer_at = deadline;
            if let Some(at) = deadline {
                match &mut self.timer {
                    Some(timer) => timer.as_mut().reset(at),
                    None => self.timer = Some(self.shared.runtime.timer(at)),
                }
            }
        }
        let Some(timer) = self.timer.as_mut().filter(|_| self.timer_at.is_some()) else {
            return false;
        };
        if timer.as_mut().poll_fired(cx).is_ready() {
            self.timer_at = None; // re-arm on the next round
            return true;
        }
        false
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Future for Driver<S> {
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let this = self.get_mut();
        for _ in 0..ROUNDS {
            let (wants_input, deadline) = match this.sync(cx) {
                Ok(state) => state,
                Err(ended) => return Poll::Ready(ended),
            };
            let mut progress = match this.write(cx) {
                Ok(progress) => progress,
                Err(ended) => return Poll::Ready(this.failing.take().map_or(ended, |(e, _)| e)),
            };
            if let Some((_, until)) = &this.failing
                && (this.out.is_empty() || this.shared.runtime.now() >= *until)
            {
                let (ended, _) = this.failing.take().expect("checked");
                return Poll::Ready(ended);
            }
            if wants_input {
                match this.read(cx) {
                    Ok(read) => progress |= read,
                    Err(ended) => return Poll::Ready(ended),
                }
            }
            if this.failing.is_none() {
                progress |= this.poll_auth(cx);
            }
            progress |= this.poll_timer(cx, deadline);
            if !progress {
                return Poll::Pending;
            }
        }
        // Busy connection: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
