#!/usr/bin/env python3
"""A webhook receiver for the benchmarks: answers every POST `204` as cheaply as it can (asyncio,
keep-alive), so that what is measured is otpgate's cost, not the receiver's. It does not verify
signatures (the tests do that, with the official library); with --log it writes one line per
delivery: the wall-clock time it arrived (seconds), its webhook-id, and the body.

Usage: bench/receiver.py --port PORT [--log FILE]
"""
import argparse
import asyncio
import sys
import time


class Receiver(asyncio.Protocol):
    def __init__(self, log):
        self.log = log
        self.buffer = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            event_id = ""
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "webhook-id":
                    event_id = value.strip()
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if self.log:
                self.log.write(f"{time.time():.6f}\t{event_id}\t{body.decode()}\n")
            self.transport.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")


async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log")
    args = p.parse_args()
    log = open(args.log, "a", buffering=1) if args.log else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Receiver(log), "127.0.0.1", args.port)
    print(f"receiver on 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
