#!/usr/bin/env python3
"""Times one huge command against a redis server or proxy on 127.0.0.1.

  redis_bigcmd.py PORT mset N      # MSETs of keys bench:0 .. bench:N-1 (values: the index)
  redis_bigcmd.py PORT mget N [T]  # MGET of those keys; checks every value; prints seconds
                                   # (gives up after T seconds without a byte)

The command is sent whole and the reply read to its end; the time printed is from the first
byte sent to the last byte of the reply received.
"""
import socket
import sys
import time


def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def read_reply(sock, want_prefix_len):
    """Reads until the reply is complete: a simple reply line, or an array of N bulk strings."""
    buf = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise SystemExit("connection closed after %d bytes: %r" % (len(buf), bytes(buf[:200])))
        buf += chunk
        if buf[:1] in (b"+", b"-", b":") and buf.endswith(b"\r\n"):
            return bytes(buf)
        if buf[:1] == b"*" and want_prefix_len is not None and len(buf) >= want_prefix_len:
            return bytes(buf)


def main():
    port, op, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    keys = [b"bench:%d" % i for i in range(n)]
    if op == "mset":
        # In MSETs of 100,000 keys: one of 2N + 1 elements could pass a proxy's array limit.
        sock = socket.create_connection(("127.0.0.1", port))
        for first in range(0, n, 100000):
            args = [b"MSET"]
            for i in range(first, min(n, first + 100000)):
                args += [keys[i], b"%d" % i]
            sock.sendall(encode(args))
            reply = read_reply(sock, None)
            if reply != b"+OK\r\n":
                raise SystemExit("MSET answered %r" % reply[:200])
        return
    else:
        args = [b"MGET"] + keys
        body = b"".join(b"$%d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(n))
        expected = b"*%d\r\n" % n + body
    payload = encode(args)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(float(sys.argv[4]) if len(sys.argv) > 4 else None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    started = time.monotonic()
    sock.sendall(payload)
    reply = read_reply(sock, len(expected))
    elapsed = time.monotonic() - started
    if reply != expected:
        raise SystemExit("MGET answered something else (%d bytes, %r...)" % (len(reply), reply[:80]))
    print("%.3f" % elapsed)


if __name__ == "__main__":
    main()
