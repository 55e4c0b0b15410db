//! The executor seam: where a socket's background tasks run, how they wait for a deadline,
//! and what time it is.
//!
//! A socket spawns a few tasks (one per bound endpoint, one per connected endpoint, one per
//! connection) and arms one timer per connection. It does both through a [`Runtime`], so
//! the application chooses where its IO runs: smol's global executor ([`SmolRuntime`], the
//! default), an executor it owns ([`ExecutorRuntime`], [`LocalRuntime`] for one thread
//! with no cross-thread wake-ups), any `futures` executor such as
//! `futures::executor::ThreadPool` ([`SpawnRuntime`]), IO threads of the library's own that
//! spread connections over several cores ([`IoThreads`]), or its own (tokio's: see the
//! `tokio_runtime` example). Readiness of sockets always comes from async-io's reactor,
//! which works under every executor.
//!
//! ```
//! use std::sync::Arc;
//! use zmq_sansio::io::{ExecutorRuntime, Socket};
//! use zmq_sansio::proto::SocketType;
//!
//! let executor = Arc::new(smol::Executor::new());
//! let runtime = ExecutorRuntime::new(Arc::clone(&executor));
//! let pull = Socket::builder(SocketType::Pull).runtime(runtime.clone()).build()?;
//! let push = Socket::builder(SocketType::Push).runtime(runtime).build()?;
//! let endpoint = pull.bind("tcp://127.0.0.1:*")?;
//! push.connect(&endpoint)?;
//! // The application and the sockets' tasks share the executor's thread(s): here, this one.
//! let msg = async_io::block_on(executor.run(async {
//!     push.send("on my executor").await?;
//!     pull.recv().await
//! }))?;
//! assert_eq!(msg.frames()[0], "on my executor");
//! # Ok::<(), zmq_sansio::io::Error>(())
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A task for a [`Runtime`] to run: boxed so that any executor can take it.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Where a socket runs its background tasks and timers, and where it reads the time.
///
/// # Contract
/// - [`spawn`](Runtime::spawn) runs the task to completion in the background (on any thread
///   the runtime likes), polling it whenever it is woken. Tasks never block; they end when
///   their socket closes. A runtime that shuts down drops its tasks: their sockets then
///   stop working, as if their connections had failed.
/// - [`timer`](Runtime::timer) and [`now`](Runtime::now) are one clock: a timer armed for
///   `now() + d` fires once `now()` has passed it. The default is async-io's timers and the
///   system's monotonic clock, which work under every executor; a simulated runtime
///   replaces both with virtual time.
pub trait Runtime: Send + Sync + fmt::Debug + 'static {
    /// Runs `task` in the background.
    fn spawn(&self, task: Task);

    /// A timer that fires at `deadline` (at once if it has passed).
    fn timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(ReactorTimer(async_io::Timer::at(deadline)))
    }

    /// The current time, from the clock the timers follow.
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// Where `tcp://` and `ipc://` endpoints lead: `None` (the default) for the operating
    /// system's network through async-io's reactor, or a network of the runtime's own
    /// (a simulated one: see [`VirtualNetwork`](super::VirtualNetwork)).
    fn network(&self) -> Option<Arc<dyn super::VirtualNetwork>> {
        None
    }
}

/// A timer from [`Runtime::timer`]: it can be polled after firing and re-armed.
pub trait Timer: Send + fmt::Debug {
    /// Arms the timer for `deadline`, replacing the previous one.
    fn reset(self: Pin<&mut Self>, deadline: Instant);

    /// Ready once the deadline has passed; registers `cx`'s waker otherwise.
    fn poll_fired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// async-io's timer, driven by its reactor.
#[derive(Debug)]
struct ReactorTimer(async_io::Timer);

impl Timer for ReactorTimer {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.set_at(deadline);
    }

    fn poll_fired(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

/// The runtime sockets use unless told otherwise: smol's global executor (one thread
/// unless `SMOL_THREADS` says more), async-io's timers, the system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    fn spawn(&self, task: Task) {
        smol::spawn(task).detach();
    }
}

/// Runs the tasks on an [`async_executor::Executor`](smol::Executor) the application owns
/// and runs on threads of its choosing (one thread running it with the application's own
/// tasks keeps every wake-up on that thread).
#[derive(Debug, Clone)]
pub struct ExecutorRuntime(Arc<smol::Executor<'static>>);

impl ExecutorRuntime {
    /// Tasks go to `executor`.
    pub fn new(executor: Arc<smol::Executor<'static>>) -> Arc<Self> {
        Arc::new(Self(executor))
    }
}

impl Runtime for ExecutorRuntime {
    fn spawn(&self, task: Task) {
        self.0.spawn(task).detach();
    }
}

/// Runs the tasks on a [`LocalExecutor`](smol::LocalExecutor): the sockets and the
/// application share one thread, and no wake-up crosses threads (async-io's reactor is
/// driven by the thread that blocks on the executor). Tasks spawned from other threads
/// reach the executor through a channel.
///
/// ```
/// use std::rc::Rc;
/// use zmq_sansio::io::{LocalRuntime, Socket};
/// use zmq_sansio::proto::SocketType;
///
/// let local = Rc::new(smol::LocalExecutor::new());
/// let runtime = LocalRuntime::new(&local);
/// let rep = Socket::builder(SocketType::Rep).runtime(runtime.clone()).build()?;
/// let req = Socket::builder(SocketType::Req).runtime(runtime).build()?;
/// req.connect(&rep.bind("tcp://127.0.0.1:*")?)?;
/// let reply = async_io::block_on(local.run(async {
///     req.send("ping").await?;
///     let request = rep.recv().await?;
///     rep.send(request).await?;
///     req.recv().await
/// }))?;
/// assert_eq!(reply.frames()[0], "ping");
/// # Ok::<(), zmq_sansio::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LocalRuntime {
    tasks: smol::channel::Sender<Task>,
}

impl LocalRuntime {
    /// Tasks go to `executor`, which the calling thread runs (with `executor.run(…)`).
    pub fn new(executor: &Rc<smol::LocalExecutor<'static>>) -> Arc<Self> {
        let (tasks, arrivals) = smol::channel::unbounded::<Task>();
        let spawner = Rc::clone(executor);
        executor
            .spawn(async move {
                while let Ok(task) = arrivals.recv().await {
                    spawner.spawn(task).detach();
                }
            })
            .detach();
        Arc::new(Self { tasks })
    }
}

impl Runtime for LocalRuntime {
    fn spawn(&self, task: Task) {
        if self.tasks.try_send(task).is_err() {
            log::warn!("LocalRuntime: the executor is gone; a socket task was dropped");
        }
    }
}

/// Runs the tasks on any [`futures` executor](futures_task::Spawn), such as
/// `futures::executor::ThreadPool`.
#[derive(Debug, Clone)]
pub struct SpawnRuntime<S>(S);

impl<S> SpawnRuntime<S>
where
    S: futures_task::Spawn + Send + Sync + fmt::Debug + 'static,
{
    /// Tasks go to `spawner`.
    pub fn new(spawner: S) -> Arc<Self> {
        Arc::new(Self(spawner))
    }
}

impl<S> Runtime for SpawnRuntime<S>
where
    S: futures_task::Spawn + Send + Sync + fmt::Debug + 'static,
{
    fn spawn(&self, task: Task) {
        if let Err(err) = self.0.spawn_obj(futures_task::FutureObj::new(task)) {
            log::warn!("SpawnRuntime: the executor refused a socket task: {err}");
        }
    }
}

/// IO threads of the library's own (libzmq's `io_threads`, omq.rs's IO lanes): each thread
/// runs an executor, and every task goes to the thread running the fewest, so the
/// connections of busy sockets spread over the threads and decode, encode and write in
/// parallel. Give sockets that should share the threads the same `IoThreads`.
///
/// ```
/// use zmq_sansio::io::{IoThreads, Socket};
/// use zmq_sansio::proto::SocketType;
///
/// let io = IoThreads::new(2);
/// let pull = Socket::builder(SocketType::Pull).runtime(io.clone()).build()?;
/// let push = Socket::builder(SocketType::Push).runtime(io).build()?;
/// push.connect(&pull.bind("tcp://127.0.0.1:*")?)?;
/// // The application may run anywhere: here, a plain thread.
/// let msg = async_io::block_on(async {
///     push.send("over two IO threads").await?;
///     pull.recv().await
/// })?;
/// assert_eq!(msg.frames()[0], "over two IO threads");
/// # Ok::<(), zmq_sansio::io::Error>(())
/// ```
#[derive(Debug)]
pub struct IoThreads {
    lanes: Vec<Lane>,
    /// Closed when the threads are no longer wanted: each returns once its executor has
    /// seen it.
    stop: smol::channel::Sender<()>,
}

/// One IO thread: its executor and how many tasks it runs.
#[derive(Debug)]
struct Lane {
    executor: Arc<smol::Executor<'static>>,
    load: Arc<std::sync::atomic::AtomicUsize>,
}

impl IoThreads {
    /// Starts `threads` IO threads (at least one). They end when the last socket using
    /// them, and every other holder of the returned handle, is gone.
    pub fn new(threads: usize) -> Arc<Self> {
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let lanes = (0..threads.max(1))
            .map(|index| {
                let executor = Arc::new(smol::Executor::new());
                let (runner, stopped) = (Arc::clone(&executor), stopped.clone());
                std::thread::Builder::new()
                    .name(format!("zmq-sansio-io-{index}"))
                    .spawn(move || {
                        let _ = async_io::block_on(runner.run(stopped.recv()));
                    })
                    .expect("an IO thread could not be started");
                Lane {
                    executor,
                    load: Arc::default(),
                }
            })
            .collect();
        Arc::new(Self { lanes, stop })
    }

    /// How many IO threads there are.
    pub fn threads(&self) -> usize {
        self.lanes.len()
    }
}

impl Drop for IoThreads {
    fn drop(&mut self) {
        self.stop.close();
    }
}

impl Runtime for IoThreads {
    fn spawn(&self, task: Task) {
        let lane = self
            .lanes
            .iter()
            .min_by_key(|lane| lane.load.load(std::sync::atomic::Ordering::Relaxed))
            .expect("at least one IO thread");
        lane.spawn(task);
    }
}

impl IoThreads {
    /// A runtime that puts every task on IO thread `index` (modulo the number of threads),
    /// as libzmq's `ZMQ_AFFINITY` pins a socket's connections: sockets that talk to each
    /// other in the same process can share a thread (no wake-up crosses threads), or be
    /// kept apart so that both ends of a transfer copy in parallel. The threads live as
    /// long as any of these.
    pub fn pinned(self: &Arc<Self>, index: usize) -> Arc<dyn Runtime> {
        Arc::new(PinnedIoThread {
            threads: Arc::clone(self),
            index: index % self.lanes.len(),
        })
    }
}

impl Lane {
    fn spawn(&self, task: Task) {
        self.load.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let task = Counted {
            task,
            load: Arc::clone(&self.load),
        };
        self.executor.spawn(task).detach();
    }
}

/// One IO thread of an [`IoThreads`], from [`IoThreads::pinned`].
#[derive(Debug)]
struct PinnedIoThread {
    threads: Arc<IoThreads>,
    index: usize,
}

impl Runtime for PinnedIoThread {
    fn spawn(&self, task: Task) {
        self.threads.lanes[self.index].spawn(task);
    }
}

/// A task that counts itself on its IO thread while it lives.
struct Counted {
    task: Task,
    load: Arc<std::sync::atomic::AtomicUsize>,
}

impl Future for Counted {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.task.as_mut().poll(cx)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.load.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Completes after `duration` on `runtime`'s clock.
pub(crate) async fn sleep(runtime: &dyn Runtime, duration: Duration) {
    let mut timer = runtime.timer(runtime.now() + duration);
    std::future::poll_fn(|cx| timer.as_mut().poll_fired(cx)).await;
}
