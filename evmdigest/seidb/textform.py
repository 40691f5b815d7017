"""The text report's fixed spellings, listed once for the parser (parse.py) and the renderer (render.py).

See the contract: a banner and narration first, then the report section whose header lines are
`<field>: <value>` in HEADER_KEYS order (`mode` only when set), then the bucket lines and FINAL_DIGEST.
"""

from __future__ import annotations

REPORT_HEADER = "EVM logical digest report"
BANNER_HEADER = "EVM logical digest start"  # the banner repeats header fields (its `version:` never counts)
CENSUS_HEADER = "Zero-value memiavl census"
BUCKETS_HEADER = "Bucket digests (final digest inputs)"
HEADER_KEYS = ("backend", "mode", "db_dir", "source", "requested_height", "version", "normalization")
INT_KEYS = ("requested_height", "version")
OMITTED_WHEN_EMPTY = ("mode",)  # the other header lines are printed even when empty


def final_label(fourth: str) -> str:
    """The FINAL_DIGEST line's label: the four bucket names as that generation prints them."""
    return f"account+code+storage+{fourth}"
