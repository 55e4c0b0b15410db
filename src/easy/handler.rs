//! Handlers: plain closures or async ones, taking the request as the type they want and
//! returning anything that makes a reply. A handler that fails or panics is answered with an
//! error reply, so a client is never left waiting.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;

use super::coding::Coding;
use crate::Msg;

/// What an error reply starts with (`"ERROR: <reason>"`). A single text frame, so the
/// Python module's clients read it like any reply.
pub const ERROR_REPLY_PREFIX: &str = "ERROR: ";

/// If `reply` is an error reply, its reason.
pub fn error_reply_reason(reply: &[u8]) -> Option<&str> {
    std::str::from_utf8(reply)
        .ok()?
        .strip_prefix(ERROR_REPLY_PREFIX)
}

/// A request as a handler wants to see it.
pub trait FromRequest: Sized + Send + 'static {
    /// Converts the message, decoding text with `coding`.
    fn from_request(msg: Msg, coding: &Coding) -> Result<Self, String>;
}

impl FromRequest for Msg {
    fn from_request(msg: Msg, _: &Coding) -> Result<Self, String> {
        Ok(msg)
    }
}

impl FromRequest for Bytes {
    /// All frames joined (a single-frame request is passed without copying).
    fn from_request(msg: Msg, _: &Coding) -> Result<Self, String> {
        if msg.len() == 1 {
            return Ok(msg.into_iter().next().expect("one frame"));
        }
        Ok(msg
            .iter()
            .flat_map(|f| f.iter().copied())
            .collect::<Vec<u8>>()
            .into())
    }
}

impl FromRequest for Vec<u8> {
    fn from_request(msg: Msg, coding: &Coding) -> Result<Self, String> {
        Bytes::from_request(msg, coding).map(|b| b.to_vec())
    }
}

impl FromRequest for String {
    fn from_request(msg: Msg, coding: &Coding) -> Result<Self, String> {
        let octets = Bytes::from_request(msg, coding)?;
        coding.decode(&octets).map_err(|e| e.to_string())
    }
}

/// What a handler may return to make a reply.
pub trait IntoReply: Send + 'static {
    /// The reply message, or why there is none.
    fn into_reply(self, coding: &Coding) -> Result<Msg, String>;
}

impl IntoReply for Msg {
    fn into_reply(self, _: &Coding) -> Result<Msg, String> {
        Ok(self)
    }
}

impl IntoReply for Bytes {
    fn into_reply(self, _: &Coding) -> Result<Msg, String> {
        Ok(Msg::from(self))
    }
}

impl IntoReply for Vec<u8> {
    fn into_reply(self, _: &Coding) -> Result<Msg, String> {
        Ok(Msg::from(self))
    }
}

impl IntoReply for String {
    fn into_reply(self, coding: &Coding) -> Result<Msg, String> {
        coding
            .encode(&self)
            .map(Msg::from)
            .map_err(|e| e.to_string())
    }
}

impl IntoReply for &'static str {
    fn into_reply(self, coding: &Coding) -> Result<Msg, String> {
        self.to_owned().into_reply(coding)
    }
}

impl IntoReply for () {
    /// An empty reply (for PULL handlers, which send nothing, this is discarded).
    fn into_reply(self, _: &Coding) -> Result<Msg, String> {
        Ok(Msg::from(Bytes::new()))
    }
}

impl<T: IntoReply, E: std::fmt::Display + Send + 'static> IntoReply for Result<T, E> {
    fn into_reply(self, coding: &Coding) -> Result<Msg, String> {
        self.map_err(|e| e.to_string())?.into_reply(coding)
    }
}

/// A reply future, boxed so handlers of any shape can be stored alike.
pub(crate) type ReplyFuture = Pin<Box<dyn Future<Output = Result<Msg, String>> + Send>>;

/// Something that handles a request: a closure `Fn(Req) -> R` or `Fn(Req) -> impl Future<Output = R>`,
/// where `Req:` [`FromRequest`] and `R:` [`IntoReply`]. `Marker` only tells the two shapes
/// apart; it is inferred.
pub trait Handler<Marker>: Send + Sync + 'static {
    /// Starts handling one request.
    #[doc(hidden)]
    fn call(&self, request: Msg, coding: &Coding) -> ReplyFuture;
}

/// Marks plain closures.
#[doc(hidden)]
pub struct Plain<Req, R>(std::marker::PhantomData<fn(Req) -> R>);
/// Marks closures returning futures.
#[doc(hidden)]
pub struct Async<Req, Fut>(std::marker::PhantomData<fn(Req) -> Fut>);

impl<F, Req, R> Handler<Plain<Req, R>> for F
where
    F: Fn(Req) -> R + Send + Sync + 'static,
    Req: FromRequest,
    R: IntoReply,
{
    fn call(&self, request: Msg, coding: &Coding) -> ReplyFuture {
        let coding = *coding;
        let result = Req::from_request(request, &coding).and_then(|req| {
            catch_unwind(AssertUnwindSafe(|| self(req)))
                .map_err(panic_message)?
                .into_reply(&coding)
        });
        Box::pin(std::future::ready(result))
    }
}

impl<F, Req, Fut> Handler<Async<Req, Fut>> for F
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Req: FromRequest,
    Fut: Future + Send + 'static,
    Fut::Output: IntoReply,
{
    fn call(&self, request: Msg, coding: &Coding) -> ReplyFuture {
        let coding = *coding;
        let future = match Req::from_request(request, &coding) {
            Ok(req) => match catch_unwind(AssertUnwindSafe(|| self(req))) {
                Ok(future) => future,
                Err(panic) => return Box::pin(std::future::ready(Err(panic_message(panic)))),
            },
            Err(err) => return Box::pin(std::future::ready(Err(err))),
        };
        Box::pin(async move {
            CatchUnwind(Box::pin(future))
                .await
                .map_err(panic_message)?
                .into_reply(&coding)
        })
    }
}

/// A stored handler of any shape.
pub(crate) type DynHandler = Arc<dyn Fn(Msg, &Coding) -> ReplyFuture + Send + Sync>;

/// Erases a handler's shape.
pub(crate) fn erase<H: Handler<M>, M>(handler: H) -> DynHandler {
    Arc::new(move |msg, coding| handler.call(msg, coding))
}

/// Replies with the request itself (the Python module's behaviour without a handler).
pub(crate) fn echo() -> DynHandler {
    erase(|msg: Msg| msg)
}

/// Makes the reply for a handler's outcome; failures are logged and answered.
pub(crate) async fn reply_for(
    handler: &DynHandler,
    request: Msg,
    coding: &Coding,
    who: &str,
) -> Msg {
    match handler(request, coding).await {
        Ok(reply) if !reply.is_empty() => reply,
        Ok(_) => Msg::from(Bytes::new()),
        Err(reason) => {
            log::error!("{who}: handler failed: {reason}");
            Msg::from(format!("{ERROR_REPLY_PREFIX}{reason}"))
        }
    }
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("handler panicked: {text}")
}

/// Polls a future, turning a panic into an error.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}
