# ruff: noqa: E501 - the flag lines are cobra's output text, verbatim
"""cobra's usage text of `seidb evm-logical-digest` at sei-chain 73f917b (output text, as recorded).

cobra prints it after every error of the command (`Error: <msg>`, then this, on stderr) and under the
command's Short text for `--help`. `--json` builds list one more flag.
"""

from __future__ import annotations

SHORT = "Backend-independent digest of EVM logical state (account/code/storage) for memiavl vs flatkv comparison"
_FLAGS = [
    "      --backend string                 Backend to read: flatkv | memiavl | composite",
    "  -d, --db-dir string                  For flatkv: the flatkv data dir. For memiavl: the memiavl root dir (contains current/ and snapshot-* )",
    "      --details                        Inspect list mode: include backend-specific version metadata",
    "      --find-hash string               Optional 32-byte hex per-entry hash to hunt for. When two bucket_digest values differ by exactly one entry, their XOR IS that entry's hash; this prints every entry whose sha256(len(key)||key||len(val)||val) matches",
    "      --flatkv-dir string              Composite mode: flatkv data dir",
    "      --height int                     Target version. flatkv WAL-replays to it; memiavl resolves snapshot-<height>/evm (0 = current symlink)",
    "  -h, --help                           help for evm-logical-digest",
    "      --inspect-bucket string          Inspect one normalized bucket (account|code|storage|misc) instead of printing the global digest",
    "      --key-offset int                 Inspect mode: byte offset into physical key before applying --key-prefix / sharding",
    "      --key-prefix string              Inspect mode: hex prefix, relative to --key-offset, used to filter physical keys",
    "      --list                           Inspect mode: list matching key/logical-value pairs instead of shard bucket_digest values",
    "      --list-limit int                 Inspect mode: maximum pairs to print with --list; <=0 means unlimited (default 1000)",
    "      --memiavl-dir string             Composite mode: memiavl root dir (contains current/ and snapshot-* )",
    '      --memiavl-normalization string   memiavl digest/inspect normalization: semantic/independent (raw EVM key/value decoder) | translator (current migration mapping) (default "semantic")',
    '      --memiavl-open-mode string       memiavl read mode: snapshot (FAST: sequential scan of the completed snapshot kvs file; requires an on-disk snapshot at --height, or --height 0 for current) | replay (SLOW, ~10x: replays changelog to --height then walks the mmap tree; use only when no snapshot exists at the target height). Prefer snapshot when --height matches an existing snapshot boundary (default "snapshot")',
    "      --shard-next-bytes int           Inspect mode: group matching keys by this many bytes after --key-prefix",
]
_JSON_FLAG = "      --json                           print one JSON report object on stdout; narration to stderr"
_HEAD = "Usage:\n  seidb evm-logical-digest [flags]\n\nFlags:"


def usage(json_flag: bool) -> str:
    """The usage string (ends with a newline; cobra's Println adds a blank line after it on errors)."""
    flags = list(_FLAGS)
    if json_flag:
        flags.insert(next(i for i, line in enumerate(flags) if "--key-offset" in line), _JSON_FLAG)
    return _HEAD + "\n" + "\n".join(flags) + "\n"


def help_text(json_flag: bool) -> str:
    return f"{SHORT}\n\n{usage(json_flag)}"
