//! [`StopHandle`]: ends a server's `run()` from outside, from any task or thread.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

#[derive(Debug, Default)]
struct State {
    stopped: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

/// Stops the `run()` loop of the server it came from: the request being handled is
/// answered, then `run()` returns `Ok(())`.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<State>);

impl StopHandle {
    /// Asks the server to stop.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(&mut *self.0.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Completes once [`StopHandle::stop`] has been called.
    pub async fn stopped(&self) {
        poll_fn(|cx| {
            if self.is_stopped() {
                return Poll::Ready(());
            }
            self.0
                .wakers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(cx.waker().clone());
            // Checked again: a stop between the first check and the registration is seen.
            if self.is_stopped() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}
