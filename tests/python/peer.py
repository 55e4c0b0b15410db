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

Any failure ends the script with a traceback on stderr, which the test reports.
"""

import sys

import zmq


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


def main():
    kind, how, endpoint = sys.argv[1:4]
    ctx = zmq.Context()
    sock = ctx.socket(getattr(zmq, kind))
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
