"""Divergence localization: from "storage mismatch" to the exact diverging keys (issue 10). No Prefect here.

Owns the search (search.py), the seidb passes it runs and checks (passes.py), key decoding and account
field diffs (keys.py), the typed results and report lines (model.py), the sealed divergence report, its
table and markdown (report.py), the drivers for a published verdict or ad hoc buckets (run.py) and the
`evm-digest localize` command's core (command.py).

The search, per mismatched bucket and normalization (both sides of every pass at once):
1. one side empty: list the other (every row diverges; a listing cut at the cap is still exact);
2. one entry more on one side: XOR of the bucket digests is that entry's hash; `--find-hash` on that
   side names it, and the counts plus the hash prove the other side lacks exactly that key (1 pass);
3. otherwise narrow: a prefix (after `evm/` + kind, i.e. `--key-offset 5`) with at most `list_rows`
   rows is listed on both sides and compared as a MAP (memIAVL lists accounts in map order); a larger
   one is sharded one byte deeper (straight to the end of an address when a byte did not split it)
   and only differing shards are followed. Every pass must hash to what the verdict / parent shard
   saw, or the search stops with StoreChanged instead of naming wrong keys.
Stops are explicit: `capped` (more than `max_keys`), `whole_bucket` (every one of >= 16 shards differs:
a bucket-wide change, not listed), `incomplete` (`max_passes` ran out; unexamined prefixes named).

Record <-> report linkage: the gate publishes the verdict record FIRST (a verdict must not wait on, or
be lost with, a slow or failing localization) and records are write-once, so the record cannot point
at a report that does not exist yet. The divergence report therefore names the record it explains
(header `record`: its key and payload sha256) and sits beside it (`segments.divergence_key_for`).
The record schema (v2) has an optional `divergence` link for producers that localize before they
publish; the gate flow never sets it. The report is deterministic (no times, no cache-dependent
counts), so an identical re-run finds it "already sealed".
"""
