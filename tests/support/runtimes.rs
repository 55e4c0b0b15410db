//! Every executor the io layer is tested on, each with the way a test drives its own code
//! there: the same scenario runs on all of them.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use zmq_sansio::io::{
    ExecutorRuntime, IoThreads, LocalRuntime, Runtime, SmolRuntime, SpawnRuntime,
};

#[path = "../../examples/support/tokio_runtime.rs"]
mod tokio_runtime;
pub use tokio_runtime::TokioRuntime;

/// A runtime for sockets and the way to run a test body beside them.
pub struct TestRuntime {
    /// For failure messages.
    pub name: &'static str,
    /// What the sockets are built with.
    pub runtime: Arc<dyn Runtime>,
    driver: Driver,
}

impl TestRuntime {
    /// Whether the sockets' tasks run on threads of their own, so that they make progress
    /// while the test's thread is blocked in a foreign library's call. The same-thread
    /// arrangements (an executor or `LocalExecutor` run by the test's thread) only run
    /// while the test awaits.
    pub fn has_threads_of_its_own(&self) -> bool {
        !matches!(self.driver, Driver::SameThread(_) | Driver::Local(_))
    }
}

enum Driver {
    /// smol's global executor runs the sockets; the test blocks on its thread.
    Smol,
    /// A `futures` thread pool runs the sockets; the test blocks on its thread.
    ThreadPool,
    /// An executor run by two threads of its own; the test blocks on its thread.
    Executor {
        stop: smol::channel::Sender<()>,
        threads: Vec<JoinHandle<()>>,
    },
    /// One executor runs the sockets and the test on the test's thread.
    SameThread(Arc<smol::Executor<'static>>),
    /// A `LocalExecutor` runs the sockets and the test on the test's thread.
    Local(Rc<smol::LocalExecutor<'static>>),
    /// A multi-threaded tokio runtime runs the sockets and the test.
    Tokio(tokio::runtime::Runtime),
    /// The library's own IO threads run the sockets; the test blocks on its thread.
    IoThreads,
}

impl TestRuntime {
    /// Runs `test` to completion where this runtime's sockets can make progress.
    pub fn block_on<T>(&self, test: impl Future<Output = T>) -> T {
        match &self.driver {
            Driver::Smol | Driver::ThreadPool | Driver::Executor { .. } | Driver::IoThreads => {
                async_io::block_on(test)
            }
            Driver::SameThread(executor) => async_io::block_on(executor.run(test)),
            Driver::Local(executor) => async_io::block_on(executor.run(test)),
            Driver::Tokio(runtime) => runtime.block_on(test),
        }
    }
}

impl Drop for TestRuntime {
    fn drop(&mut self) {
        if let Driver::Executor { stop, threads } = &mut self.driver {
            stop.close();
            for thread in threads.drain(..) {
                let _ = thread.join();
            }
        }
    }
}

/// Every runtime, freshly made (the local ones for the calling thread).
pub fn all() -> Vec<TestRuntime> {
    let pool = futures::executor::ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("a thread pool");
    let shared = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let threads = (0..2)
        .map(|_| {
            let (executor, stopped) = (Arc::clone(&shared), stopped.clone());
            std::thread::spawn(move || {
                let _ = async_io::block_on(executor.run(stopped.recv()));
            })
        })
        .collect();
    let same_thread = Arc::new(smol::Executor::new());
    let local = Rc::new(smol::LocalExecutor::new());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    vec![
        TestRuntime {
            name: "smol (default)",
            runtime: Arc::new(SmolRuntime),
            driver: Driver::Smol,
        },
        TestRuntime {
            name: "futures ThreadPool",
            runtime: SpawnRuntime::new(pool),
            driver: Driver::ThreadPool,
        },
        TestRuntime {
            name: "async-executor on two threads",
            runtime: ExecutorRuntime::new(shared),
            driver: Driver::Executor { stop, threads },
        },
        TestRuntime {
            name: "async-executor on the test's thread",
            runtime: ExecutorRuntime::new(Arc::clone(&same_thread)),
            driver: Driver::SameThread(same_thread),
        },
        TestRuntime {
            name: "LocalExecutor on the test's thread",
            runtime: LocalRuntime::new(&local),
            driver: Driver::Local(local),
        },
        TestRuntime {
            name: "two IO threads",
            runtime: IoThreads::new(2),
            driver: Driver::IoThreads,
        },
        TestRuntime {
            name: "tokio",
            runtime: Arc::new(TokioRuntime(tokio.handle().clone())),
            driver: Driver::Tokio(tokio),
        },
    ]
}

thread_local! {
    /// The runtime the blocking-style scenarios of this thread run on (see [`on_each`]).
    static CURRENT: RefCell<Option<Rc<TestRuntime>>> = const { RefCell::new(None) };
}

/// The runtime [`on_each`] is running a scenario on, on this thread.
pub fn current() -> Option<Rc<TestRuntime>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// Runs a blocking-style scenario once on every runtime whose tasks run on threads of
/// their own: our sockets are built with it and our waits are driven where it makes
/// progress. (A blocking peer call on the test's thread would stall the same-thread
/// arrangements; those meet foreign peers running on threads of their own instead.)
pub fn on_each(scenario: impl Fn()) {
    for runtime in all()
        .into_iter()
        .filter(TestRuntime::has_threads_of_its_own)
    {
        let name = runtime.name;
        CURRENT.with(|current| *current.borrow_mut() = Some(Rc::new(runtime)));
        // Unset even if the scenario panics, so the failure names the runtime once.
        struct Unset(&'static str);
        impl Drop for Unset {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    eprintln!("(the scenario failed on the {} runtime)", self.0);
                }
                CURRENT.with(|current| current.borrow_mut().take());
            }
        }
        let _unset = Unset(name);
        scenario();
    }
}
