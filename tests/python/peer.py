#!/usr/bin/env python3
"""One pyzmq socket, driven line by line by tests/pyzmq_interop.rs.

usage: peer.py TYPE bind|connect ENDPOINT [ROUTING_ID_HEX]

TYPE is a pyzmq socket type name (PUSH, SUB, ...). After binding or connecting the script
prints "READY <endpoint>" (for a bind, the endpoint with the real port), then answers one
line per command read from stdin. Message frames travel as hex, separated by commas (a
message of one empty frame is an empty string):

    SEND <frames>      -> OK                  (fails after 8 s if it cannot send)
    RECV <ms>          -> MSG <frames> | TIMEOUT
    SUB <hex prefix>   -> OK
    UNSUB <hex prefix> -> OK
    STREAM <tag>       -> STREAMING, then sends [tag, "0"], [tag, "1"], ... until killed

Security comes from the environment (tests/pyzmq_security.rs sets it):

    PEER_SECURITY="plain-server" | "plain-client USER PASSWORD"
                | "curve-server SECRET_Z85" | "curve-client SERVER_PUBLIC PUBLIC SECRET"
    PEER_ZAP_ALLOW="USER:PASSWORD" or "CLIENT_PUBLIC_Z85": run a ZAP handler that lets in
        only these credentials (status 400 for anything else) and prints each decision to
        stderr.

Any failure ends the script with a traceback on stderr, which the test reports.
"""

import os
import sys
import threading

import zmq
import zmq.utils.z85


def reply(*words):
    sys.stdout.write(" ".join(words) + "\n")
    sys.stdout.flush()


def encode(frames):
    return ",".join(frame.hex() for frame in frames)


def decode(text):
    return [bytes.fromhex(frame) for frame in text.split(",")]


def stream(sock, tag):
    reply("STREAMING")
    tag = tag.encode()
    number = 0
    while True:
        try:
            sock.send_multipart([tag, str(number).encode()])
        except zmq.Again:
            continue  # no peer for a while (it is reconnecting): keep trying
        number += 1


def zap_handler(ctx, allow, ready):
    """A ZAP handler (RFC 27) allowing only `allow`: "user:password" or a CURVE key."""
    handler = ctx.socket(zmq.REP)
    handler.linger = 0
    handler.bind("inproc://zeromq.zap.01")
    ready.set()
    while True:
        frames = handler.recv_multipart()
        version, request_id, domain, address, identity, mechanism = frames[:6]
        credentials = frames[6:]
        if mechanism == b"PLAIN":
            given = credentials[0] + b":" + credentials[1]
        elif mechanism == b"CURVE":
            given = zmq.utils.z85.encode(credentials[0])
        else:
            given = b""
        ok = given == allow.encode()
        sys.stderr.write(f"ZAP {mechanism.decode()} {address.decode()} {'allow' if ok else 'deny'}\n")
        sys.stderr.flush()
        status, text = (b"200", b"OK") if ok else (b"400", b"not allowed")
        # No user id: libzmq 4.3's REQ, as the mechanism's server, then drops every reply
        # (its REQ session refuses the credential it pushes first), even from libzmq.
        handler.send_multipart([version, request_id, status, text, b"", b""])


def secure(ctx, sock):
    spec = os.environ.get("PEER_SECURITY", "").split()
    if not spec:
        return
    if spec[0] == "plain-server":
        sock.plain_server = True
    elif spec[0] == "plain-client":
        sock.plain_username, sock.plain_password = spec[1].encode(), spec[2].encode()
    elif spec[0] == "curve-server":
        sock.curve_server = True
        sock.curve_secretkey = spec[1].encode()
    elif spec[0] == "curve-client":
        sock.curve_serverkey = spec[1].encode()
        sock.curve_publickey = spec[2].encode()
        sock.curve_secretkey = spec[3].encode()
    else:
        raise SystemExit(f"unknown PEER_SECURITY {spec!r}")
    allow = os.environ.get("PEER_ZAP_ALLOW")
    if allow:
        ready = threading.Event()
        threading.Thread(target=zap_handler, args=(ctx, allow, ready), daemon=True).start()
        ready.wait()


def main():
    kind, how, endpoint = sys.argv[1:4]
    ctx = zmq.Context()
    sock = ctx.socket(getattr(zmq, kind))
    secure(ctx, sock)
    sock.linger = 0
    sock.sndtimeo = 8_000
    if len(sys.argv) > 4:
        sock.setsockopt(zmq.ROUTING_ID, bytes.fromhex(sys.argv[4]))
    if how == "bind":
        sock.bind(endpoint)
        endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
    elif how == "connect":
        sock.connect(endpoint)
    else:
        raise SystemExit(f"bind or connect, not {how!r}")
    reply("READY", endpoint)

    for line in sys.stdin:
        command, _, arg = line.rstrip("\n").partition(" ")
        if command == "SEND":
            sock.send_multipart(decode(arg))
            reply("OK")
        elif command == "RECV":
            if sock.poll(int(arg), zmq.POLLIN):
                reply("MSG", encode(sock.recv_multipart()))
            else:
                reply("TIMEOUT")
        elif command == "SUB":
            sock.setsockopt(zmq.SUBSCRIBE, bytes.fromhex(arg))
            reply("OK")
        elif command == "UNSUB":
            sock.setsockopt(zmq.UNSUBSCRIBE, bytes.fromhex(arg))
            reply("OK")
        elif command == "STREAM":
            stream(sock, arg)
        else:
            raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
