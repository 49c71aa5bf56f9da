"""The load generator of bench/api_load.py, run as its own process (never inside a server).

``python bench/load_client.py URL PATH --clients 50 --seconds 5 --max-requests N
[--header 'Authorization: Bearer …'] [--expect-file BODY]`` keeps ``--clients``
HTTP/1.1 keep-alive connections busy with ``GET PATH`` (each sends its next request as
soon as the last answer is read) until the time or the request budget runs out, then
prints one JSON object: requests, seconds, rps, p50/p99/max latency, statuses, bodies that
differ from the expected one, and this process's own CPU use.

It speaks HTTP/1.1 itself on asyncio streams (a fixed request, Content-Length framing)
rather than through httpx: an HTTP client library costs several times the CPU per request
and would measure itself. The CPU figure is how the caller shows it was not the bottleneck:
a generator well under one core of CPU was waiting for the server, not the other way round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

WARMUP_S = 1.0


class Tally:
    def __init__(self, budget: int, expected: bytes | None):
        self.budget = budget
        self.expected = expected
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.mismatched = 0
        self.warmup = 0  # requests answered during the warm-up (not in the figures)
        self.errors: list[str] = []


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _client(host: str, port: int, request: bytes, tally: Tally, warm_until: float,
                  stop_at: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            started = time.perf_counter()
            if started >= stop_at or (started >= warm_until and tally.budget <= 0):
                return
            measured = started >= warm_until
            if measured:
                tally.budget -= 1
            writer.write(request)
            status, body = await _read_response(reader)
            if not measured:
                tally.warmup += 1
                continue
            tally.latencies.append(time.perf_counter() - started)
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if tally.expected is not None and body != tally.expected:
                tally.mismatched += 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        writer.close()


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, path: str, headers: list[str], clients: int, seconds: float,
              max_requests: int, expected: bytes | None) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = "".join([f"GET {path} HTTP/1.1\r\n", f"Host: {host}:{port}\r\n",
                       *(f"{h}\r\n" for h in headers), "\r\n"]).encode()
    tally = Tally(max_requests, expected)
    start = time.perf_counter()
    warm_until = start + WARMUP_S
    stop_at = warm_until + seconds
    await asyncio.gather(*(_client(host, port, request, tally, warm_until, stop_at)
                           for _ in range(clients)))
    # measured time: from the end of the warm-up to the last answer (the budget may end
    # the run before the clock does)
    elapsed = min(time.perf_counter(), stop_at) - warm_until
    ordered = sorted(tally.latencies)
    done = len(ordered)
    return {"requests": done, "seconds": round(elapsed, 3),
            "rps": round(done / elapsed, 1) if elapsed > 0 else 0.0,
            "p50_ms": round(_percentile(ordered, 0.50) * 1000, 3),
            "p99_ms": round(_percentile(ordered, 0.99) * 1000, 3),
            "max_ms": round(ordered[-1] * 1000, 3) if ordered else float("nan"),
            "latencies_ms": [round(x * 1000, 3) for x in ordered],
            "warmup_requests": tally.warmup,
            "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
            "mismatched_bodies": tally.mismatched, "errors": tally.errors[:5]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument("path", help="the path to GET, e.g. /v1/clusters/zk")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--expect-file", type=Path,
                        help="a file with the body every answer should carry")
    args = parser.parse_args(argv)
    expected = args.expect_file.read_bytes() if args.expect_file else None
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.perf_counter()
    result = asyncio.run(run(args.url, args.path, args.header, args.clients, args.seconds,
                             args.max_requests, expected))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - wall0
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    # over the whole run, warm-up included: an upper bound on the share of a core it used
    result["client_cpu_s"] = round(cpu, 3)
    result["client_cpu_share"] = round(cpu / wall, 3)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
