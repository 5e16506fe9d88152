"""The application of the sidecar example. It knows nothing of log shipping: it writes numbered
lines to a log file, and every ROTATE lines rotates it as logrotate's `create` does: app.log.1
becomes app.log.2 and so on (the oldest past KEEP is deleted), app.log becomes app.log.1, and a
new app.log is started. On SIGTERM it stops writing and prints how many lines it wrote.

    python3 examples/sidecar/app.py --dir /logs --rate 20 --rotate 100 --keep 5
"""
import argparse
import datetime
import os
import signal
import time

stopping = False


def stop(signum, frame):
    global stopping
    stopping = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="/logs", help="where app.log is written")
    parser.add_argument("--rate", type=float, default=20, help="lines per second")
    parser.add_argument("--rotate", type=int, default=100, help="lines per file before rotating")
    parser.add_argument("--keep", type=int, default=5, help="rotated files kept")
    args = parser.parse_args()
    # As PID 1 of its container, a process without a SIGTERM handler would ignore SIGTERM.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    path = os.path.join(args.dir, "app.log")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    written = 0
    while not stopping:
        written += 1
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        os.write(fd, ("%s INFO line %d\n" % (now, written)).encode())
        if written % args.rotate == 0:
            for n in range(args.keep - 1, 0, -1):
                if os.path.exists("%s.%d" % (path, n)):
                    os.replace("%s.%d" % (path, n), "%s.%d" % (path, n + 1))
            os.replace(path, path + ".1")
            os.close(fd)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        time.sleep(1 / args.rate)
    os.close(fd)
    print("wrote %d lines" % written, flush=True)


if __name__ == "__main__":
    main()
