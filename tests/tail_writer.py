#!/usr/bin/env python3
"""A log writer for `tender tail`'s tests: appends numbered lines ("n=0", "n=1", ...) to
DIR/NAME and rotates the file every --rotate-every lines, alternating the --modes given:

  rename        DIR/NAME becomes DIR/NAME.<k> and a new DIR/NAME is created (logrotate's
                default, "create")
  copytruncate  DIR/NAME is copied to DIR/NAME.<k>, then truncated in place while the writer
                keeps its descriptor (logrotate's "copytruncate")

The writer rotates its own file between two writes, so every line is in some file: whatever a
shipper misses, it lost. Lines go out --batch at a time, at about --rate lines per second
(0: as fast as it can). Prints "done <lines> <rotations>" at the end.
"""
import argparse
import os
import shutil
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--name", default="app.log")
    p.add_argument("--lines", type=int, default=100000)
    p.add_argument("--rotate-every", type=int, default=5000)
    p.add_argument("--modes", default="rename,copytruncate")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--first", type=int, default=0, help="the first line's number")
    a = p.parse_args()

    path = os.path.join(a.dir, a.name)
    modes = [m for m in a.modes.split(",") if m]
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    fd = os.open(path, flags, 0o644)
    rotations = 0
    since_rotation = 0
    start = time.monotonic()
    n = a.first
    end = a.first + a.lines
    while n < end:
        upto = min(n + a.batch, end)
        os.write(fd, "".join("n=%d\n" % i for i in range(n, upto)).encode())
        since_rotation += upto - n
        n = upto
        if modes and since_rotation >= a.rotate_every and n < end:
            since_rotation = 0
            rotations += 1
            mode = modes[(rotations - 1) % len(modes)]
            rotated = "%s.%d" % (path, rotations)
            if mode == "rename":
                os.rename(path, rotated)
                os.close(fd)
                fd = os.open(path, flags, 0o644)
            elif mode == "copytruncate":
                shutil.copyfile(path, rotated)
                os.ftruncate(fd, 0)
            else:
                sys.exit("unknown mode " + mode)
        if a.rate > 0:
            ahead = (n - a.first) / a.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    os.close(fd)
    print("done %d %d" % (a.lines, rotations), flush=True)


if __name__ == "__main__":
    main()
