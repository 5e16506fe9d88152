#!/usr/bin/env python3
"""Sends N keep-alive GETs to 127.0.0.1:PORT, 50 pipelined at a time, and reads every answer.

  http_pipeline.py PORT N
"""
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
req = b"GET /hello/world?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
s = socket.create_connection(("127.0.0.1", port))
done = 0
buf = b""
while done < n:
    batch = min(50, n - done)
    s.sendall(req * batch)
    got = 0
    while got < batch:
        data = s.recv(1 << 20)
        if not data:
            raise SystemExit("closed")
        buf += data
        while True:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                break
            head = buf[:i].decode()
            cl = 0
            for line in head.split("\r\n"):
                if line.lower().startswith("content-length:"):
                    cl = int(line.split(":")[1])
            if len(buf) < i + 4 + cl:
                break
            buf = buf[i + 4 + cl:]
            got += 1
    done += batch
print(done)
