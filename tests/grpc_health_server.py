#!/usr/bin/env python3
"""A real gRPC server (Debian's python3-grpcio) of grpc.health.v1.Health/Check, for the tests of
`tender pod`'s grpc probes and of core's gRPC health client.

    grpc_health_server.py --port 0 --status-file DIR/status [--service NAME]... [--no-health]
                          [--host ADDRESS]

Check answers for the server as a whole (service "") and for each --service NAME; any other
service fails with grpc status NOT_FOUND, as grpc's own health servicer does. The answer is
SERVING unless the status file (read at each call) holds NOT_SERVING, SERVICE_UNKNOWN or
UNKNOWN. With --no-health the server has no Health service at all (calls fail UNIMPLEMENTED).

No generated code: the messages are protobuf bytes, written and read here (HealthCheckRequest
is field 1, the service name; HealthCheckResponse is field 1, the status as a varint).
Listens on 127.0.0.1 unless --host says otherwise (0.0.0.0 in a pod network), and prints
"listening listen=HOST:PORT" once it accepts connections; SIGTERM stops it.
"""
import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc

STATUSES = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2, "SERVICE_UNKNOWN": 3}


def service_of(request):
    """HealthCheckRequest.service of the protobuf bytes `request` ("" when absent)."""
    i, service = 0, b""
    while i < len(request):
        key, i = varint(request, i)
        if key == 0x0A:  # field 1, length-delimited
            n, i = varint(request, i)
            service = request[i:i + n]
            i += n
        elif key & 7 == 0:
            _, i = varint(request, i)
        else:
            raise ValueError("unexpected field %d" % key)
    return service.decode()


def varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--status-file", required=True)
    parser.add_argument("--service", action="append", default=[])
    parser.add_argument("--no-health", action="store_true")
    args = parser.parse_args()
    known = {""} | set(args.service)

    def check(request, context):
        service = service_of(request)
        if service not in known:
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        try:
            with open(args.status_file) as f:
                word = f.read().strip()
        except FileNotFoundError:
            word = "SERVING"
        return bytes([0x08, STATUSES.get(word, 0)])

    handler = grpc.unary_unary_rpc_method_handler(
        check, request_deserializer=lambda b: b, response_serializer=lambda b: b)
    name = "test.Other" if args.no_health else "grpc.health.v1.Health"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(name, {"Check": handler}),))
    port = server.add_insecure_port("%s:%d" % (args.host, args.port))
    if port == 0:
        sys.exit("cannot listen on %s:%d" % (args.host, args.port))
    server.start()
    print("listening listen=%s:%d" % (args.host, port), flush=True)

    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(3600):
        pass
    server.stop(0)


if __name__ == "__main__":
    main()
