"""Benchmark the ledger (not a test): records/s with bounded parallel reads vs one at a time, and peak RSS.

    .venv/bin/python bench/ledger.py [--records 10000] [--sample 500] [--latency-ms 0 10] [--repeat 3]

The S3 test server is moto over HTTP in its own process, listening on one port per `--latency-ms`
value; a port with latency L sleeps L ms before answering each request (threads sleep in parallel),
which stands in for S3's per-request first-byte latency. Loopback moto has none, so at 0 ms every
read is CPU on the 2 shared cores and parallel reads can only overlap client and server work; S3's
latency is what the thread pool hides. `--records` sealed records (5 nodes x heights x 2
normalizations) are written once through the sink's own emit_json in a thread pool, plus a
`--sample` of the same shape under another prefix. Each measurement is a fresh child process running
`build_ledger` (list + verify every seal + read every record), so its peak RSS (ru_maxrss) is its own:
  - parallel (16 workers) over all `--records`;
  - one at a time (workers=1) over the `--sample` prefix: its rate is per record, and 10,000 records one
    at a time would take tens of minutes per repetition. Goal: parallel >= 5x one at a time.
Medians over --repeat; ratios from one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

BUCKET = "evmd-ledger-bench"
NODES = ("node-a", "node-b", "node-c", "node-d", "node-e")
INTERVAL = 1000


def serve(latencies: list[int]) -> None:
    """moto's S3 app on one port per latency (one process: one backend); prints the ports, serves until stdin closes."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class Quiet(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    app = DomainDispatcherApplication(create_backend_app)

    def delayed(seconds: float) -> Any:
        def wsgi(environ: Any, start_response: Any) -> Any:
            time.sleep(seconds)  # the request's own thread: concurrent requests wait concurrently
            return app(environ, start_response)

        return wsgi

    ports = {}
    for ms in latencies:
        server = make_server("127.0.0.1", 0, delayed(ms / 1000) if ms else app, True, request_handler=Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ports[ms] = server.server_port
    print(json.dumps(ports), flush=True)
    sys.stdin.read()


def start_server(latencies: list[int]) -> tuple[subprocess.Popen[str], dict[int, str]]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--latency-ms", *map(str, latencies)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ports = json.loads(proc.stdout.readline())
    return proc, {int(ms): f"http://127.0.0.1:{port}" for ms, port in ports.items()}


def _record(height: int, normalization: str, node: str) -> dict[str, Any]:
    from evmdigest.verdict.records import EndpointDigestRecord

    final = hashlib.sha256(f"final-{height}".encode()).hexdigest().upper()
    buckets = {
        name: {"flatkv": digest, "memiavl": digest, "match": True, "flatkv_count": 1000, "memiavl_count": 1000}
        for name in ("account", "code", "storage", "misc")
        for digest in [hashlib.sha256(f"{name}-{height}".encode()).hexdigest().upper()]
    }
    record = EndpointDigestRecord.model_validate(
        {"height": height, "normalization": normalization, "flatkv_digest": final, "memiavl_digest": final,
         "per_bucket": buckets, "match": True, "axes_proved": ["nonce", "code_hash", "code", "storage", "misc"],
         "generated_at": datetime.now(UTC), "node": node, "flatkv_count": 4000, "memiavl_count": 4000}
    )  # fmt: skip
    return record.model_dump(mode="json")


def seed(endpoint: str, prefix: str, count: int) -> float:
    """Write `count` sealed records (5 nodes, 2 normalizations, heights INTERVAL apart) under `prefix`."""
    from evmdigest.ledger import open_ledger_sink
    from evmdigest.models import Normalization
    from evmdigest.segments import record_key

    sink = open_ledger_sink(f"s3://{BUCKET}/{prefix}", endpoint_url=endpoint, workers=16)
    per_height = len(NODES) * len(Normalization)
    jobs = [
        (height, normalization, node)
        for height in range(INTERVAL, INTERVAL * (count // per_height + 1), INTERVAL)
        for node in NODES
        for normalization in Normalization
    ][:count]
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda j: sink.emit_json(record_key(j[0], j[1], j[2]), _record(j[0], j[1].value, j[2])), jobs))
    return time.perf_counter() - started


def child(args: argparse.Namespace) -> None:
    from evmdigest.ledger import build_ledger, open_ledger_sink

    sink = open_ledger_sink(args.url, endpoint_url=args.endpoint, workers=args.workers)
    started = time.perf_counter()
    ledger = build_ledger(sink, workers=args.workers, interval=INTERVAL)
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(json.dumps({"seconds": seconds, "records": len(ledger.table), "exit": ledger.exit_code, "rss_mb": rss}))


def measure(url: str, endpoint: str, workers: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", "--url", url, "--endpoint", endpoint, "--workers", str(workers)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    if result["exit"] != 0:
        raise SystemExit(f"the ledger found problems in the benchmark's own records: {result}")
    result["rate"] = result["records"] / result["seconds"]
    return result


def _line(label: str, runs: list[dict[str, Any]]) -> str:
    rates = ", ".join(f"{run['rate']:.0f}" for run in runs)
    seconds = statistics.median(run["seconds"] for run in runs)
    rate = statistics.median(run["rate"] for run in runs)
    return f"  {label}, {runs[0]['records']} records: median {seconds:.1f}s = {rate:.0f} records/s (runs: {rates})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 10])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.latency_ms)
    if args.child:
        return child(args)

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    latencies = sorted(set([0, *args.latency_ms]))
    proc, endpoints = start_server(latencies)
    try:
        import boto3

        boto3.client("s3", endpoint_url=endpoints[0]).create_bucket(Bucket=BUCKET)
        seconds = seed(endpoints[0], "full", args.records)
        print(f"seeded {args.records} sealed records in {seconds:.1f}s ({args.records / seconds:.0f}/s, 16 threads)")
        seed(endpoints[0], "sample", args.sample)
        print(f"cpu cores: {os.cpu_count()}; load average now {os.getloadavg()[0]:.2f}\n")
        for ms in args.latency_ms:
            endpoint = endpoints[ms]
            parallel, single = [], []
            for _ in range(args.repeat):  # interleaved, so drift in the shared cores' load hits both alike
                parallel.append(measure(f"s3://{BUCKET}/full", endpoint, args.workers))
                single.append(measure(f"s3://{BUCKET}/sample", endpoint, 1))
            small = measure(f"s3://{BUCKET}/sample", endpoint, args.workers)
            p_rate = statistics.median(r["rate"] for r in parallel)
            s_rate = statistics.median(r["rate"] for r in single)
            print(f"latency {ms} ms per request:")
            print(_line(f"parallel ({args.workers} workers)", parallel))
            print(_line("one at a time", single))
            print(f"  ratio parallel / one at a time: {p_rate / s_rate:.1f}x  (goal >= 5x)")
            print(f"  peak RSS: {statistics.median(r['rss_mb'] for r in parallel):.0f} MB for "
                  f"{parallel[0]['records']} records, {small['rss_mb']:.0f} MB for {small['records']} (parallel); "
                  f"{statistics.median(r['rss_mb'] for r in single):.0f} MB one at a time\n")  # fmt: skip
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
