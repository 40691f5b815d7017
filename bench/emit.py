"""Benchmark sealed emission (not a test): throughput against `gzip -6`, and peak RSS.

    .venv/bin/python bench/emit.py [--big-mib 1024] [--small-mib 128] [--repeat 3]

One run prints, for the folder sink and for S3 on two servers on loopback (moto in its own process;
SeaweedFS, a real S3 server, when scripts/build-s3server has built it — otherwise it says why not):
  - throughput of emit_stream on a lazily generated NDJSON payload, divided by the throughput of
    `gzip -6` on the very same bytes (read from a page-cached file)          goal >= 0.8
  - peak RSS (ru_maxrss) of a fresh process emitting 128 MiB vs 1 GiB        goal <= 150 MB, flat
  - the S3 server's own peak RSS (VmHWM) after all its emissions                 (context, no goal)
Each emission runs in its own child process so its peak RSS is its own. Medians over --repeat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from evmdigest.emit import WriteFn
from tests.plugins.s3 import TEST_ACCESS_KEY_ID, TEST_REGION, TEST_SECRET_ACCESS_KEY
from tests.plugins.seaweedfs import SeaweedServer, weed_binary

MIB = 1 << 20
BLOCK = MIB
BUCKET = "evmd-bench"


def _pool(seed: int = 7, lines: int = 24_000) -> list[bytes]:
    """Distinct EVM-storage-like lines (~3 MiB): random addresses, small and large slots/values."""
    rng = random.Random(seed)
    out = []
    for i in range(lines):
        slot = rng.getrandbits(256) if rng.random() < 0.4 else rng.randrange(64)
        value = rng.getrandbits(256) if rng.random() < 0.5 else rng.randrange(1 << 40)
        out.append(
            b'{"address":"0x%040x","slot":"0x%064x","value":"0x%064x","height":%d}\n'
            % (rng.getrandbits(160), slot, value, 1_000_000 + i // 50)
        )
    return out


def ndjson_blocks(total: int) -> Iterator[bytes]:
    """~1 MiB blocks of NDJSON, generated lazily by walking the line pool from a moving offset.

    The pool (3 MiB) is far larger than gzip's 32 KiB window, so compression sees no repeats.
    """
    pool = _pool()
    n = len(pool)
    sent, start = 0, 0
    while sent < total:
        block: list[bytes] = []
        size = 0
        i = start
        while size < BLOCK and sent + size < total:
            line = pool[i % n]
            block.append(line)
            size += len(line)
            i += 1
        start = (start + 7919 * len(block)) % n
        data = b"".join(block)[: total - sent]
        sent += len(data)
        yield data


def write_payload(total: int) -> WriteFn:
    def write(f: IO[bytes]) -> None:
        for block in ndjson_blocks(total):
            f.write(block)

    return write


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(args: argparse.Namespace) -> None:
    """One emission in a fresh process; prints a JSON line with its timing and peak RSS."""
    from evmdigest.emit import open_sink

    sink = open_sink(args.url, endpoint_url=args.endpoint_url, part_size=args.part_mib * MIB)
    base = _rss_mb()
    t0 = time.perf_counter()
    result = sink.emit_stream(args.key, write_payload(args.mib * MIB))
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "bytes": result.uncompressed_bytes,
                "gz": result.compressed_bytes,
                "rss_base_mb": base,
                "rss_peak_mb": _rss_mb(),
                "store": result.store_checksum.wire() if result.store_checksum else None,
            }
        )
    )


def run_child(sink_url: str, endpoint: str | None, key: str, mib: int, part_mib: int) -> dict[str, float]:
    argv = [
        sys.executable,
        __file__,
        "--child",
        "--url",
        sink_url,
        "--key",
        key,
        "--mib",
        str(mib),
        "--part-mib",
        str(part_mib),
    ]
    if endpoint:
        argv += ["--endpoint-url", endpoint]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    row: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return row


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def start_seaweedfs(work: Path) -> SeaweedServer | None:
    binary = weed_binary()
    if not os.access(binary, os.X_OK):
        print(f"bench: no s3/seaweedfs row: {binary} is not built (scripts/build-s3server needs Go)", file=sys.stderr)
        return None
    (work / "seaweedfs").mkdir()
    return SeaweedServer(binary, work / "seaweedfs")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def gzip_seconds(path: Path) -> float:
    t0 = time.perf_counter()
    with path.open("rb") as src, open(os.devnull, "wb") as dst:
        subprocess.run(["gzip", "-6", "-c"], stdin=src, stdout=dst, check=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--big-mib", type=int, default=1024)
    p.add_argument("--small-mib", type=int, default=128)
    p.add_argument("--part-mib", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--url", "--key", "--endpoint-url", "--mib", help=argparse.SUPPRESS)
    args, _ = p.parse_known_args()
    if args.child:
        c = argparse.ArgumentParser()
        for flag in ("--url", "--key", "--endpoint-url"):
            c.add_argument(flag)
        c.add_argument("--mib", type=int)
        c.add_argument("--part-mib", type=int)
        c.add_argument("--child", action="store_true")
        child(c.parse_args())
        return

    # SeaweedFS checks signatures against its identities file: the tests' key pair (moto takes anything).
    os.environ["AWS_ACCESS_KEY_ID"] = TEST_ACCESS_KEY_ID
    os.environ["AWS_SECRET_ACCESS_KEY"] = TEST_SECRET_ACCESS_KEY
    os.environ["AWS_REGION"] = TEST_REGION
    work = Path(tempfile.mkdtemp(prefix="evmd-bench-"))
    moto, endpoint = start_moto()
    seaweedfs = start_seaweedfs(work)
    try:
        import boto3

        sinks: list[tuple[str, str, str | None, int | None]] = [
            ("folder", (work / "out").as_uri(), None, None),
            ("s3/moto", f"s3://{BUCKET}/b", endpoint, moto.pid),
        ]
        if seaweedfs is not None:
            sinks.append(("s3/seaweedfs", f"s3://{BUCKET}/b", seaweedfs.endpoint_url, seaweedfs.pid))
        for _, _, ep, _ in sinks[1:]:
            boto3.client("s3", endpoint_url=ep, region_name=TEST_REGION).create_bucket(Bucket=BUCKET)
        big = args.big_mib * MIB
        payload = work / "payload.ndjson"
        t0 = time.perf_counter()
        with payload.open("wb") as f:
            for block in ndjson_blocks(big):
                f.write(block)
        gen_mbps = big / MIB / (time.perf_counter() - t0)
        gz = [gzip_seconds(payload) for _ in range(args.repeat)]
        gzip_mbps = big / MIB / statistics.median(gz)

        rows = []
        for name, url, ep, server_pid in sinks:
            runs = [run_child(url, ep, f"big-{i}.ndjson", args.big_mib, args.part_mib) for i in range(args.repeat)]
            small = [run_child(url, ep, f"small-{i}.ndjson", args.small_mib, args.part_mib) for i in range(args.repeat)]
            mbps = big / MIB / statistics.median(r["seconds"] for r in runs)
            rows.append(
                {
                    "sink": name,
                    "emit_MiB_s": round(mbps, 1),
                    "ratio_vs_gzip6": round(mbps / gzip_mbps, 2),
                    "gzip_ratio": round(runs[0]["bytes"] / runs[0]["gz"], 2),
                    f"rss_peak_MB_{args.small_mib}MiB": round(statistics.median(r["rss_peak_mb"] for r in small), 1),
                    f"rss_peak_MB_{args.big_mib}MiB": round(statistics.median(r["rss_peak_mb"] for r in runs), 1),
                    "rss_after_imports_MB": round(statistics.median(r["rss_base_mb"] for r in runs), 1),
                    "store_checksum": runs[0]["store"],
                    "server_rss_peak_MB": round(peak_rss_mb(server_pid), 1) if server_pid else None,
                }
            )
        print(
            json.dumps(
                {
                    "payload_MiB": args.big_mib,
                    "repeat": args.repeat,
                    "part_MiB": args.part_mib,
                    "generator_to_file_MiB_s": round(gen_mbps, 1),
                    "gzip6_MiB_s": round(gzip_mbps, 1),
                    "gzip6_seconds": [round(s, 2) for s in gz],
                    "cpus": os.cpu_count(),
                },
                indent=2,
            )
        )
        for row in rows:
            print(json.dumps(row))
    finally:
        if seaweedfs is not None:
            seaweedfs.stop()
        moto.terminate()
        moto.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
