"""Benchmark: parse_report over a 1M-line narration followed by a report, in each text generation.

Prints the median of --repeat runs (seconds, lines/s) and peak RSS growth. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

from evmdigest.models import Generation
from evmdigest.seidb import ReportParser, parse_report
from evmdigest.seidb.render import render_json, render_text

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "data" / "seidb-reports" / "evm_logical_digest_golden.json"


def _narration(lines: int) -> list[str]:
    # Real seidb narration: progress lines dominate, with an occasional FOUND-HASH or log line.
    out = ["EVM logical digest start", "backend: memiavl", "version: 2", "", "Scan progress: memiavl input_leaves"]
    for i in range(lines):
        if i % 1000 == 999:
            out.append(f"FOUND-HASH bucket=storage keyhex={i:064X} logicalhex=21 rawhex=0021")
        else:
            out.append(f"  progress backend=memiavl mode=semantic input_leaves={i * 1000} digested account=deferred")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    golden = json.loads(GOLDEN.read_text())["digest/memiavl-semantic-snapshot-h2"]
    report = parse_report(json.dumps(golden))
    narration = "\n".join(_narration(args.lines)) + "\n"
    forms = {
        "misc text": narration + render_text(report, Generation.MISC),
        "legacy text": narration + render_text(report, Generation.LEGACY),
        "json (narration on stdout too)": narration + render_json(report),
    }
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{args.lines:,} narration lines + report; median of {args.repeat} runs")
    for name, text in forms.items():
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            parsed = parse_report(text)
            times.append(time.perf_counter() - started)
            assert parsed.final == report.final
        median = statistics.median(times)
        print(f"  parse_report {name:<32} {median:6.3f} s   {args.lines / median / 1e6:5.2f} M lines/s")
    # The runner feeds lines one by one as they arrive: the streaming path, without the joined text.
    lines = narration.split("\n") + render_text(report, Generation.MISC).split("\n")
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        streaming = ReportParser()
        for line in lines:
            streaming.feed(line)
        assert streaming.finish().final == report.final
        times.append(time.perf_counter() - started)
    print(f"  ReportParser.feed per line (runner path)     {statistics.median(times):6.3f} s")
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(f"  peak RSS growth while parsing: {grown:.0f} MiB (the input text itself is held by this script)")


if __name__ == "__main__":
    main()
