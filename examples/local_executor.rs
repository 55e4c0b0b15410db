//! One thread for everything: the application's tasks and its sockets' connections run on
//! a `LocalExecutor` that the main thread drives, so no wake-up ever crosses threads
//! (async-io's reactor is driven by the thread blocked in `async_io::block_on`). This is
//! the arrangement of a GUI or game loop, or of a server pinned to a core.
//!
//! Run with `cargo run --example local_executor`.

use std::rc::Rc;
use std::time::Duration;

use zmq_sansio::io::{Error, LocalRuntime, Socket};
use zmq_sansio::proto::SocketType;

fn main() -> Result<(), Error> {
    let local = Rc::new(smol::LocalExecutor::new());
    let runtime = LocalRuntime::new(&local);
    let socket = |kind| Socket::builder(kind).runtime(runtime.clone()).build();

    let rep = socket(SocketType::Rep)?;
    let endpoint = rep.bind("tcp://127.0.0.1:*")?;
    let req = socket(SocketType::Req)?;
    req.connect(&endpoint)?;

    let thread = std::thread::current().id();
    // The server is a task of the same executor; it may hold things that are not `Send`.
    let served = Rc::new(std::cell::Cell::new(0));
    let counter = Rc::clone(&served);
    let server = local.spawn(async move {
        while let Ok(request) = rep.recv().await {
            assert_eq!(std::thread::current().id(), thread);
            counter.set(counter.get() + 1);
            rep.send(request).await?;
        }
        Ok::<(), Error>(())
    });

    async_io::block_on(local.run(async {
        for word in ["one", "thread", "for", "everything"] {
            req.send(word).await?;
            let reply = req.recv_timeout(Duration::from_secs(5)).await?;
            println!("{:?} came back on {thread:?}", reply.frames()[0]);
        }
        req.close().await;
        drop(server); // cancels the server task, which drops (and closes) its socket
        Ok::<(), Error>(())
    }))?;
    println!("{} requests served, all on one thread", served.get());
    Ok(())
}
