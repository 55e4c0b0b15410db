#!/usr/bin/env python3
"""pyzmq peers on both sides of a proxy, for tests/pyzmq_proxy.rs.

usage:
    proxy_peers.py broker CLIENTS_ENDPOINT WORKERS_ENDPOINT CLIENTS WORKERS REQUESTS
        REP workers connect to WORKERS_ENDPOINT and answer "<request> by <worker>"; REQ
        clients connect to CLIENTS_ENDPOINT and each send REQUESTS requests, checking every
        reply. Prints "OK <replies> <workers that served>".
    proxy_peers.py forwarder PUBLISHERS_ENDPOINT SUBSCRIBERS_ENDPOINT COUNT
        A PUB connects to the first, a SUB subscribed to "weather" to the second; probes
        until the subscription has travelled up, then publishes COUNT "weather" and COUNT
        "sports" messages interleaved and checks that exactly the weather ones arrive, in
        order. Prints "OK <received>".
    proxy_peers.py control ENDPOINT COMMAND...
        A REQ sends each command to a proxy's control socket; prints the reply to each on
        one line: "STATS <eight numbers>" for STATISTICS, "EMPTY" for an empty reply.
    proxy_peers.py libzmq-proxy FRONTEND_ENDPOINT BACKEND_ENDPOINT CONTROL_ENDPOINT
        Runs libzmq's own zmq_proxy_steerable (ROUTER frontend, DEALER backend, REP control,
        all bound; ports may be "*") until TERMINATE. Prints "READY <frontend> <backend>
        <control>" with the bound endpoints, then "TERMINATED" at the end.

Every wait is bounded (8 s); any failure ends the script with a traceback on stderr.
"""

import struct
import sys
import threading

import zmq

PATIENCE_MS = 8000


def socket(ctx, kind):
    sock = ctx.socket(kind)
    sock.linger = 0
    sock.rcvtimeo = PATIENCE_MS
    sock.sndtimeo = PATIENCE_MS
    return sock


def broker(clients_endpoint, workers_endpoint, clients, workers, requests):
    ctx = zmq.Context()
    served = set()
    failures = []

    def work(name):
        rep = socket(ctx, zmq.REP)
        rep.rcvtimeo = 500  # idle workers end once the clients are done
        rep.connect(workers_endpoint)
        while True:
            try:
                request = rep.recv()
            except zmq.Again:
                return
            served.add(name)
            rep.send(request + b" by " + name.encode())

    def ask(number):
        try:
            req = socket(ctx, zmq.REQ)
            req.connect(clients_endpoint)
            for i in range(requests):
                request = f"c{number} r{i}".encode()
                req.send(request)
                reply = req.recv()
                assert reply.startswith(request + b" by "), (request, reply)
        except Exception as err:  # reported below, with the others
            failures.append(repr(err))

    threads = [threading.Thread(target=work, args=(f"w{w}",), daemon=True) for w in range(workers)]
    threads += [threading.Thread(target=ask, args=(c,)) for c in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads[workers:]:
        thread.join()
    if failures:
        sys.exit("client failures: " + "; ".join(failures))
    print(f"OK {clients * requests} {len(served)}", flush=True)


def forwarder(publishers_endpoint, subscribers_endpoint, count):
    ctx = zmq.Context()
    pub = socket(ctx, zmq.PUB)
    pub.connect(publishers_endpoint)
    sub = socket(ctx, zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"weather")
    sub.connect(subscribers_endpoint)
    # Until the subscription reaches the PUB through the proxy, the PUB drops: probe.
    sub.rcvtimeo = 50
    for _ in range(PATIENCE_MS // 50):
        pub.send(b"weather probe")
        try:
            sub.recv()
            break
        except zmq.Again:
            pass
    else:
        sys.exit("no probe came through the forwarder")
    sub.rcvtimeo = PATIENCE_MS
    pub.send(b"weather end-of-probes")
    while sub.recv() != b"weather end-of-probes":
        pass
    for i in range(count):
        pub.send(f"sports {i}".encode())
        pub.send(f"weather {i}".encode())
    for i in range(count):
        got = sub.recv()
        assert got == f"weather {i}".encode(), got
    print(f"OK {count}", flush=True)


def control(endpoint, commands):
    ctx = zmq.Context()
    req = socket(ctx, zmq.REQ)
    req.connect(endpoint)
    for command in commands:
        req.send(command.encode())
        frames = req.recv_multipart()
        if command == "STATISTICS":
            numbers = [struct.unpack("=Q", frame)[0] for frame in frames]
            print("STATS " + " ".join(map(str, numbers)), flush=True)
        else:
            assert frames == [b""], frames
            print("EMPTY", flush=True)


def libzmq_proxy(frontend_endpoint, backend_endpoint, control_endpoint):
    ctx = zmq.Context()
    frontend = socket(ctx, zmq.ROUTER)
    frontend.bind(frontend_endpoint)
    backend = socket(ctx, zmq.DEALER)
    backend.bind(backend_endpoint)
    ctl = socket(ctx, zmq.REP)
    ctl.bind(control_endpoint)
    for sock in (frontend, backend, ctl):
        sock.rcvtimeo = -1
        sock.sndtimeo = -1
    endpoints = [s.getsockopt(zmq.LAST_ENDPOINT).decode() for s in (frontend, backend, ctl)]
    print("READY " + " ".join(endpoints), flush=True)
    zmq.proxy_steerable(frontend, backend, None, ctl)
    print("TERMINATED", flush=True)


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "broker":
        broker(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif mode == "forwarder":
        forwarder(args[0], args[1], int(args[2]))
    elif mode == "control":
        control(args[0], args[1:])
    elif mode == "libzmq-proxy":
        libzmq_proxy(args[0], args[1], args[2])
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
