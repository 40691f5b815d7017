"""Checks of single run-parameter values: bounds, node labels, hostile text, the seidb binary.

Each check raises RequestError, whose message is a template: `{field}` placeholders are rendered by
each front end its own way (the flow prints parameter names, the CLI its flags). request.py composes
these checks into RunRequest/DemoRequest, the one validation both front ends use.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from evmdigest.emit.registry import has_control_characters
from evmdigest.segments import NODE_LABEL

SEIDB_ENV = "EVMDIGEST_SEIDB"
SINK_ENV = "EVMDIGEST_SINK"
OLD_SINK_ENV = "EVMDIGEST_SINK_URL"  # read with a deprecation warning; prefect.yaml once used it
INT64_MAX = 2**63 - 1  # seidb parses --height as int64
MAX_SCAN_TIMEOUT = 7 * 24 * 3600.0  # a week: far above any real scan, far below what threads can wait
NODE_LABEL_RULE = "1-63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
_PLACEHOLDER = re.compile(r"\{\{\s*\$?([^}\s]*)\s*\}\}")


def quoted(value: object, limit: int = 512) -> str:
    """`value` as a message template shows it: repr (control characters escaped), cut to `limit`, braces doubled."""
    text = repr(value)
    if len(text) > limit:
        text = f"{text[: limit - 2]}…{text[-1]}"
    return text.replace("{", "{{").replace("}", "}}")


class _Names(dict[str, str]):
    def __missing__(self, field: str) -> str:
        return field


class RequestError(ValueError):
    """A run parameter is unusable. `field` names it; `render(names)` spells fields as a front end does."""

    def __init__(self, field: str, template: str) -> None:
        self.field = field
        self.template = template
        super().__init__(self.render())

    def render(self, names: Mapping[str, str] | None = None) -> str:
        return self.template.format_map(_Names(names or {}))

    def renamed(self, names: Mapping[str, str]) -> RequestError:
        """The same error with fields spelled as `names` says (a front end whose names differ from ours)."""
        return RequestError(self.field, self.render(names).replace("{", "{{").replace("}", "}}"))

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.template))  # flow failures are pickled across processes


def _check_height(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= INT64_MAX:
        raise RequestError("height", f"{{height}}: {quoted(value)} is not a block height; use 1 to {INT64_MAX}")
    return value


def _check_timeout(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and 0 < value <= MAX_SCAN_TIMEOUT):
        raise RequestError(
            "timeout",
            f"{{timeout}}: {quoted(value)} is not a scan timeout; give seconds, > 0 and <= {MAX_SCAN_TIMEOUT:g}",
        )
    return value


Height = Annotated[int | None, AfterValidator(_check_height)]
"""A segment boundary height (1 … int64 max); None seals the newest memiavl snapshot not yet sealed."""
Timeout = Annotated[float | None, AfterValidator(_check_timeout)]
"""Seconds one scan may run before it is killed (finite, > 0, <= a week); None: the SeidbCli block's (3600)."""


MaxKeys = Annotated[int, Field(ge=1)]
"""Diverging keys localization names per bucket at most (more: the bucket is reported `capped`)."""


def check_node_label(value: str, field: str = "node") -> str:
    """A node label is one safe path segment of the sink layout and one safe token in logs and event ids."""
    if has_control_characters(value):
        problem = "contains control characters"
    elif len(value) > 63:
        problem = f"is {len(value)} characters long"
    elif ".." in value or not NODE_LABEL.match(value):
        problem = "is not a node label"
    else:
        return value
    shown = quoted(value, limit=40)
    raise RequestError(field, f"{{{field}}}: {shown} {problem}; use {NODE_LABEL_RULE} (no '/', no '..')")


def check_text(field: str, value: str) -> str:
    """Refuse control characters (they forge log lines) and prefect.yaml placeholders left unfilled at deploy time."""
    if has_control_characters(value):
        raise RequestError(field, f"{{{field}}}: {quoted(value)} contains control characters; remove them")
    placeholder = _PLACEHOLDER.search(value)
    if placeholder:
        env = placeholder.group(1) or "the variable"
        raise RequestError(
            field,
            f"{{{field}}}: {quoted(value)} is a prefect.yaml placeholder left unfilled; "
            f"set {env} before `prefect deploy` (or fill in the parameter)",
        )
    if not value.strip():
        raise RequestError(field, f"{{{field}}} is empty; give a value or leave it out")
    return value


def find_seidb(binary: str, field: str = "seidb_path", origin: str = "") -> str:
    """The executable `binary` names (a path, or a name on PATH), or RequestError saying what to set."""
    found = shutil.which(binary)
    if found is not None:
        return found
    path = Path(binary).expanduser()
    if path.is_file():
        why = "is not executable; chmod +x it"
    elif os.sep in binary:
        why = "does not exist; give the path of a seidb binary"
    else:
        why = f"was not found on PATH; give the seidb binary's path (or set {SEIDB_ENV})"
    raise RequestError(field, f"{{{field}}}{origin}: {quoted(binary)} {why}")
