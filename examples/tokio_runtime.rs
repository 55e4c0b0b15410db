//! Sockets whose connections are driven by tokio: the crate has no tokio dependency, and
//! `support/tokio_runtime.rs` (forty lines) is all the glue there is. The application
//! awaits `send` and `recv` from tokio tasks as from any other.
//!
//! Run with `cargo run --example tokio_runtime`.

use std::sync::Arc;
use std::time::Duration;

use zmq_sansio::io::{Error, Socket};
use zmq_sansio::proto::SocketType;

#[path = "support/tokio_runtime.rs"]
mod tokio_runtime;
use tokio_runtime::TokioRuntime;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let runtime = Arc::new(TokioRuntime(tokio::runtime::Handle::current()));
    let rep = Socket::builder(SocketType::Rep)
        .runtime(runtime.clone())
        .build()?;
    let endpoint = rep.bind("tcp://127.0.0.1:*")?;
    let server = tokio::spawn(async move {
        while let Ok(request) = rep.recv().await {
            let text = String::from_utf8_lossy(&request.frames()[0]).to_uppercase();
            rep.send(text).await?;
        }
        Ok::<(), Error>(())
    });

    let req = Socket::builder(SocketType::Req).runtime(runtime).build()?;
    req.connect(&endpoint)?;
    for word in ["tokio", "drives", "these", "connections"] {
        req.send(word).await?;
        let reply = req.recv_timeout(Duration::from_secs(5)).await?;
        println!("{word} -> {:?}", reply.frames()[0]);
    }
    req.close().await;
    server.abort();
    Ok(())
}
