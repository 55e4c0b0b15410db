//! Sockets on the `futures` crate's executors instead of smol: a REP server and its
//! connections run on a `futures::executor::ThreadPool` (through `SpawnRuntime`), a REQ
//! client runs under `futures::executor::block_on` on the main thread, its connection on
//! smol's executor (the default).
//!
//! `send`/`recv` only wait on wakers, so any executor can await them; the runtime a socket
//! is built with decides where its connections are driven.
//!
//! Run with `cargo run --example futures_executor`.

use std::time::Duration;

use futures::channel::oneshot;
use futures::executor::{ThreadPool, block_on};
use zmq_sansio::Msg;
use zmq_sansio::io::{Error, Socket, SpawnRuntime};
use zmq_sansio::proto::SocketType;

/// Answers requests until the socket is closed; returns how many it served.
async fn serve(rep: Socket) -> usize {
    let mut served = 0;
    loop {
        let request = match rep.recv().await {
            Ok(request) => request,
            Err(Error::Closed) => return served, // closed by `main`: we are done
            Err(err) => panic!("recv: {err}"),
        };
        let text = String::from_utf8_lossy(&request.frames()[0]).to_uppercase();
        println!(
            "  [pool thread {:?}] REP got {request:?}, answers {text:?}",
            std::thread::current().id()
        );
        rep.send(text).await.expect("reply");
        served += 1;
    }
}

fn main() -> Result<(), Error> {
    let pool = ThreadPool::builder()
        .pool_size(2)
        .create()
        .expect("thread pool");

    let rep = Socket::builder(SocketType::Rep)
        .linger(Duration::from_millis(100))
        .runtime(SpawnRuntime::new(pool.clone()))
        .build()?;
    let endpoint = rep.bind("tcp://127.0.0.1:*")?;
    println!("REP bound to {endpoint}, served from a futures ThreadPool");

    // The server task owns one handle; `main` keeps a clone to close the socket later
    // (clones share the socket, and closing one closes it for all).
    let (done_tx, done_rx) = oneshot::channel();
    let server = rep.clone();
    pool.spawn_ok(async move {
        let _ = done_tx.send(serve(server).await);
    });

    block_on(async {
        let req = Socket::new(SocketType::Req);
        req.connect(&endpoint)?;
        println!(
            "[main thread {:?}] REQ connected",
            std::thread::current().id()
        );
        for word in ["hello", "from", "block_on"] {
            req.send(word).await?;
            let reply: Msg = req.recv_timeout(Duration::from_secs(5)).await?;
            println!("[main thread] REQ sent {word:?}, got back {reply:?}");
        }
        req.close().await;
        rep.close().await; // ends `serve` on the pool with Error::Closed

        let served = done_rx.await.expect("the server task reports back");
        println!("server task finished after {served} requests");
        assert_eq!(served, 3);
        Ok(())
    })
}
