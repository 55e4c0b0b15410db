//! Using the sockets from a tokio application.
//!
//! (a) Our sockets' `send`/`recv` futures are awaited directly from tokio tasks: they only
//!     wait on wakers, so they need no compatibility layer at all.
//! (b) Bring your own transport: tokio `TcpStream`s, made into `futures::io` streams with
//!     `tokio_util::compat`, are handed to `Socket::attach_stream`. The same works for TLS
//!     streams, in-memory pipes, or anything else that reads and writes bytes.
//!
//! The crate itself does not depend on tokio; here it is only a dev-dependency.
//!
//! Run with `cargo run --example tokio_compat`.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt;
use zmq_sansio::io::{Error, Socket};
use zmq_sansio::proto::SocketType;

const TIMEOUT: Duration = Duration::from_secs(5);

/// (a) A PUSH socket fed by one tokio task, a PULL socket read by another.
async fn sockets_in_tokio_tasks() -> Result<(), Error> {
    let push = Socket::new(SocketType::Push);
    let endpoint = push.bind("tcp://127.0.0.1:*")?;
    println!("(a) PUSH bound to {endpoint}");

    let receiver = tokio::spawn(async move {
        let pull = Socket::new(SocketType::Pull);
        pull.connect(&endpoint)?;
        let mut total = 0;
        for _ in 0..5 {
            let msg = pull.recv_timeout(TIMEOUT).await?;
            let n: u32 = String::from_utf8_lossy(&msg.frames()[0]).parse().unwrap();
            println!("(a)   tokio task received {n}");
            total += n;
        }
        pull.close().await;
        Ok::<_, Error>(total)
    });
    let sender = tokio::spawn(async move {
        // `send` waits until the PULL has connected, then queues without waiting.
        for n in 1..=5u32 {
            push.send(n.to_string()).await?;
        }
        push.close().await; // returns once all five have left (or after the linger time)
        Ok::<_, Error>(())
    });

    sender.await.expect("sender task")?;
    let total = receiver.await.expect("receiver task")?;
    println!("(a) sum of received numbers: {total}");
    assert_eq!(total, 15);
    Ok(())
}

/// (b) A REQ/REP pair whose TCP connection was made by tokio, not by the sockets.
async fn tokio_streams_attached() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("(b) tokio TcpListener on {addr}");

    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (client, (server, _)) = (client?, accepted?);
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;

    // `.compat()` turns tokio's AsyncRead/AsyncWrite into the futures-io traits the
    // sockets take. The side that connected plays the ZMTP client.
    let rep = Socket::new(SocketType::Rep);
    rep.attach_stream(server.compat(), false)?;
    let req = Socket::new(SocketType::Req);
    req.attach_stream(client.compat(), true)?;

    let server_task = tokio::spawn(async move {
        let request = rep.recv_timeout(TIMEOUT).await?;
        println!("(b)   REP received {request:?} over the tokio stream");
        rep.send("pong").await?;
        Ok::<_, Error>(rep)
    });
    req.send("ping").await?;
    let reply = req.recv_timeout(TIMEOUT).await?;
    println!("(b) REQ received {reply:?}");
    assert_eq!(reply.frames()[0], "pong");
    // Close once the exchange is over: with an attached stream, the peer's queue goes
    // away with the connection.
    let rep = server_task.await??;
    req.close().await;
    rep.close().await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    sockets_in_tokio_tasks().await?;
    tokio_streams_attached().await?;
    println!("done");
    Ok(())
}
