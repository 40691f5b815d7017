"""The verdict: what a comparison of two digest reports concludes, and how it is published.

Owns `EndpointDigestRecord` and `compare` (records.py), the version gate (gate.py), what a gate run
produced (outcome.py) and the write-once publication policy: emit, "already sealed", seal repair and
`VerdictFlip` (publish.py). Post-verdict steps (ledger, fleet) build on `publish` and `PublishedRecord`.
No Prefect here: the flow wraps these calls in tasks.
"""
