//! Sockets on an executor the application owns: an `async_executor::Executor` (smol's
//! `Executor`) run by threads the application starts, which runs the application's tasks
//! and the sockets' connections alike.
//!
//! Run with `cargo run --example own_executor`.

use std::sync::Arc;
use std::time::Duration;

use zmq_sansio::io::{Error, ExecutorRuntime, Socket};
use zmq_sansio::proto::SocketType;

fn main() -> Result<(), Error> {
    let executor = Arc::new(smol::Executor::new());
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (executor, stopped) = (Arc::clone(&executor), stopped.clone());
            std::thread::spawn(move || async_io::block_on(executor.run(stopped.recv())))
        })
        .collect();

    let runtime = ExecutorRuntime::new(Arc::clone(&executor));
    let pull = Socket::builder(SocketType::Pull)
        .runtime(runtime.clone())
        .build()?;
    let endpoint = pull.bind("tcp://127.0.0.1:*")?;
    let push = Socket::builder(SocketType::Push).runtime(runtime).build()?;
    push.connect(&endpoint)?;

    let consumer = executor.spawn(async move {
        let mut total = 0u64;
        for _ in 0..1000 {
            let msg = pull.recv_timeout(Duration::from_secs(5)).await?;
            total += u64::from(msg.frames()[0][0]);
        }
        pull.close().await;
        Ok::<u64, Error>(total)
    });
    let total = async_io::block_on(async {
        for i in 0..1000u32 {
            push.send(vec![(i % 256) as u8]).await?;
        }
        push.close().await;
        consumer.await
    })?;
    println!("1000 messages over the application's own executor, sum {total}");

    drop(stop); // the executor's threads return once their `run` sees the channel closed
    for thread in threads {
        let _ = thread.join();
    }
    Ok(())
}
