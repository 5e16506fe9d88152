#!/usr/bin/env python3
"""A WebSocket peer for the proxy's tests, on the `websockets` library (python3-websockets).

  ws_peer.py serve PORT        an echo server on 127.0.0.1:PORT; it greets each connection
                               first, then sends every message back, and closes when asked
  ws_peer.py client URL        connects, checks the greeting and the echo of text and binary
                               messages of several sizes, closes cleanly; prints "ok" or why not
"""
import asyncio
import os
import sys

import websockets


async def serve(port):
    async def echo(ws, path=None):
        await ws.send("hello from the server")
        async for message in ws:
            await ws.send(message)

    async with websockets.serve(echo, "127.0.0.1", port, max_size=None):
        await asyncio.Future()


async def client(url):
    async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=10) as ws:
        greeting = await asyncio.wait_for(ws.recv(), 10)
        if greeting != "hello from the server":
            return f"greeting: {greeting!r}"
        messages = ["text", "x" * 70000, os.urandom(1), os.urandom(300000), "last"]
        for m in messages:
            await ws.send(m)
            back = await asyncio.wait_for(ws.recv(), 10)
            if back != m:
                return f"echo of a {type(m).__name__} of {len(m)}: got {len(back)} back"
    return "ok"


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
    elif len(sys.argv) == 3 and sys.argv[1] == "client":
        result = asyncio.run(client(sys.argv[2]))
        print(result)
        sys.exit(0 if result == "ok" else 1)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
