"""Run parameters, typed, bounded and checked in one place: the CLI and the flow both build a RunRequest.

A bad parameter raises RequestError naming the field and the fix. Its message is a template whose
`{field}` placeholders each front end renders its own way: the flow prints parameter names, the CLI
its flags (the CLI's argparse dests are these field names). Construction checks every value on its own
(bounds, label charset, no control characters, sink URL shape); `resolve()` then fills the defaults a
run takes from the environment and checks what only this machine can answer (store dirs, the seidb
binary). The CLI calls both before Prefect starts; the flow calls both on its worker.
Over ~300 lines on purpose: every command's request lives here, so there is one validation per parameter.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from evmdigest.emit.registry import check_sink_url
from evmdigest.kinds import KIND_DIRS, NodeSpec, parse_node_spec
from evmdigest.models import BUCKETS, NodeKind, Normalization, OpenMode
from evmdigest.params import (
    INT64_MAX,
    MAX_SCAN_TIMEOUT,
    OLD_SINK_ENV,
    SEIDB_ENV,
    SINK_ENV,
    Height,
    MaxKeys,
    RequestError,
    Timeout,
    check_node_label,
    check_text,
    find_seidb,
    quoted,
)
from evmdigest.sim.generate import DIVERGE_BUCKET

__all__ = [
    "DEFAULT_NORMALIZATIONS", "DIVERGE_CHOICES", "INT64_MAX", "MAX_SCAN_TIMEOUT", "OLD_SINK_ENV", "SEIDB_ENV",
    "SINK_ENV", "DemoRequest", "Height", "LocalizeRequest", "MaxKeys", "NodesLocalizeRequest", "RequestError",
    "RunRequest", "Timeout", "check_kind_dirs", "quoted", "sink_url_or_default",
]  # fmt: skip
DEFAULT_NORMALIZATIONS: tuple[Normalization, ...] = tuple(Normalization)
_STORE = {"flatkv_dir": "FlatKV", "memiavl_dir": "memIAVL"}
DIVERGE_CHOICES: tuple[str, ...] = tuple(DIVERGE_BUCKET)
_log = logging.getLogger("evmdigest.request")


_SHARED_CHECKS = ("height", "timeout")  # the fields params.Height and params.Timeout name in their errors


def _build(model: type[_Checked], values: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        field = str(first["loc"][0]) if first["loc"] else "request"
        if isinstance(cause, RequestError):
            if cause.field in _SHARED_CHECKS and field != cause.field and field in model.model_fields:
                # Height / Timeout checking a field of another name (the fleet's node_timeout): name that field.
                raise RequestError(field, cause.template.replace(f"{{{cause.field}}}", f"{{{field}}}")) from None
            raise cause from None
        message = str(first["msg"]).replace("{", "{{").replace("}", "}}")
        raise RequestError(field, f"{{{field}}}: {message}") from None


class _Checked(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def create(cls, **values: Any) -> Self:
        """Build and check; raise RequestError (never pydantic's ValidationError)."""
        built: Self = _build(cls, values)
        return built

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any, info: ValidationInfo) -> Any:
        # prefect.yaml fills an unset `{{ $VAR }}` with "", and UI forms send "" for a cleared field.
        if not (isinstance(value, str) and not value.strip()):
            return value
        name = str(info.field_name)
        if cls._required(name, info.data):
            raise RequestError(name, f"{{{name}}} is empty; give it (in a deployment: set its variable, then deploy)")
        return None

    @classmethod
    def _required(cls, name: str, earlier: Mapping[str, Any]) -> bool:
        """Whether field `name` must be given, knowing the fields validated before it."""
        return cls.model_fields[name].is_required()

    @field_validator("*", mode="after")
    @classmethod
    def _no_hostile_text(cls, value: Any, info: ValidationInfo) -> Any:
        # A node label has its own, stricter rule (check_node_label), which names the label charset.
        if isinstance(value, str | Path) and info.field_name != "node":
            check_text(str(info.field_name), str(value))
        return value


class RunRequest(_Checked):
    """One gate run: which kind of node, which stores, which height, which decoders, which seidb and sink,
    how long. The store dirs are the kind's (evmdigest.kinds.KIND_DIRS): each required, no other given."""

    kind: NodeKind = NodeKind.PAIR
    flatkv_dir: Path | None = None
    memiavl_dir: Path | None = None
    height: Height = None
    normalizations: tuple[Normalization, ...] = DEFAULT_NORMALIZATIONS
    open_mode: OpenMode = OpenMode.SNAPSHOT
    seidb_path: str | None = None
    endpoint_url: str | None = None  # before sink_url: the sink URL check reads both S3 options
    region: str | None = Field(default=None, max_length=64)
    sink_url: str | None = None
    node: str | None = None
    timeout: Timeout = None
    # Publish even to a store that ignores conditional writes (evmdigest.emit.probe refuses it otherwise).
    allow_overwriting_store: bool = False
    localize: bool = True
    localize_max_keys: MaxKeys = 1000

    @classmethod
    def _required(cls, name: str, earlier: Mapping[str, Any]) -> bool:
        kind = earlier.get("kind")  # validated before the dirs (declared first)
        return super()._required(name, earlier) or (isinstance(kind, NodeKind) and name in KIND_DIRS[kind])

    @field_validator("normalizations")
    @classmethod
    def _one_each(cls, value: tuple[Normalization, ...]) -> tuple[Normalization, ...]:
        if not value:
            choices = ", ".join(n.value for n in Normalization)
            raise RequestError("normalizations", f"{{normalizations}}: choose at least one of {choices}")
        if len(set(value)) != len(value):
            names = quoted([n.value for n in value])
            raise RequestError("normalizations", f"{{normalizations}}: {names} names one twice; list each once")
        return value

    @field_validator("node")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else check_node_label(value)

    @field_validator("sink_url")
    @classmethod
    def _sink(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Kept as the URL it means: a plain path becomes its file:// URL here, so the flow gets an absolute one.
        if value is None:
            return None
        return _sink_url("sink_url", value, endpoint_url=info.data.get("endpoint_url"), region=info.data.get("region"))

    @model_validator(mode="after")
    def _stores_of_the_kind(self) -> Self:
        check_kind_dirs(self.kind, flatkv_dir=self.flatkv_dir, memiavl_dir=self.memiavl_dir)
        if self.kind is NodeKind.FLATKV and self.height is None:
            raise RequestError(
                "height", "{height} is required: a flatkv node has no memIAVL snapshots to find the next height by"
            )
        return self

    @model_validator(mode="after")
    def _s3_options_need_a_sink(self) -> Self:
        if self.sink_url is None and (self.endpoint_url or self.region):
            field = "endpoint_url" if self.endpoint_url else "region"
            raise RequestError(field, "{endpoint_url}/{region} configure an S3 sink; add {sink_url} s3://bucket/prefix")
        return self

    def check_stores(self) -> None:
        """The kind's store dirs exist here; run on the machine that scans them (the flow's worker)."""
        _check_store_dirs(self)

    def resolve(
        self, environ: Mapping[str, str] | None = None, *, seidb_block: str | None = None, sink_block: bool = False
    ) -> RunRequest:
        """This request as it runs here: store dirs and the seidb binary checked, defaults filled from the
        environment and checked like given values. `seidb_block`: a SeidbCli block's path, which wins;
        `sink_block`: a DigestSink block is given, so no sink URL is needed."""
        env = os.environ if environ is None else environ
        self.check_stores()
        if seidb_block is not None:
            seidb_path = find_seidb(seidb_block, field="seidb", origin=" (SeidbCli block path)")
        elif self.seidb_path is not None:
            seidb_path = find_seidb(self.seidb_path)
        else:
            origin, binary = (f" (from ${SEIDB_ENV})", env[SEIDB_ENV]) if env.get(SEIDB_ENV) else ("", "seidb")
            seidb_path = find_seidb(check_text("seidb_path", binary), origin=origin)
        sink_url = self.sink_url
        if sink_url is None and not sink_block:
            sink_url = _sink_from_env(env)
        return self.model_copy(update={"seidb_path": seidb_path, "sink_url": sink_url})


def _check_buckets(value: tuple[str, ...]) -> tuple[str, ...]:
    for bucket in value:
        if bucket not in BUCKETS:
            raise RequestError("buckets", f"{{buckets}}: {quoted(bucket)} is not one of {', '.join(BUCKETS)}")
    if not value:
        raise RequestError("buckets", f"{{buckets}}: name at least one of {', '.join(BUCKETS)}")
    return tuple(dict.fromkeys(value))


def check_kind_dirs(kind: NodeKind, **dirs: Path | None) -> None:
    """The store dirs `kind` has (KIND_DIRS) are all given and no other is: the gate's and the fleet's check."""
    for field in ("flatkv_dir", "memiavl_dir"):
        given = dirs.get(field) is not None
        if field in KIND_DIRS[kind] and not given:
            raise RequestError(field, f"{{{field}}} is required: a {kind.value} node reads its {_STORE[field]} store")
        if field not in KIND_DIRS[kind] and given:
            raise RequestError(
                field,
                f"{{{field}}}: a {kind.value} node has no {_STORE[field]} store; drop {{{field}}} "
                "or declare the kind that has both stores ({kind} pair or composite)",
            )


def _check_store_dirs(request: RunRequest | LocalizeRequest) -> None:
    fields = KIND_DIRS[request.kind] if isinstance(request, RunRequest) else ("flatkv_dir", "memiavl_dir")
    for field in fields:
        value: Path = getattr(request, field)
        path = value.expanduser()
        if not path.is_dir():
            what = "is not a directory" if path.exists() else "does not exist"
            raise RequestError(
                field, f"{{{field}}}: {quoted(str(value))} {what} on this machine; give the store's directory"
            )


def _sink_url(field: str, url: str, *, endpoint_url: str | None, region: str | None, origin: str = "") -> str:
    try:
        return check_sink_url(url, endpoint_url=endpoint_url, region=region)
    except ValueError as exc:
        detail = str(exc).replace("{", "{{").replace("}", "}}")
        raise RequestError(field, f"{{{field}}}{origin}: {detail}") from None


def sink_url_or_default(sink_url: str | None, environ: Mapping[str, str] | None = None) -> str:
    """A checked sink URL: the given one, else $EVMDIGEST_SINK (or the old name), else ./out — as `run` resolves it."""
    if sink_url:
        return _sink_url("sink_url", check_text("sink_url", sink_url), endpoint_url=None, region=None)
    return _sink_from_env(os.environ if environ is None else environ)


def _sink_from_env(env: Mapping[str, str]) -> str:
    for name in (SINK_ENV, OLD_SINK_ENV):
        value = env.get(name)
        if value:
            if name == OLD_SINK_ENV:
                _log.warning("%s is deprecated and will stop working; rename it to %s", OLD_SINK_ENV, SINK_ENV)
            check_text("sink_url", value)
            return _sink_url("sink_url", value, endpoint_url=None, region=None, origin=f" (from ${name})")
    return (Path.cwd() / "out").as_uri()


class DemoRequest(_Checked):
    """`evm-digest demo`: a simulated node (or, with `seidb_path`, a real one) sealed into a local folder."""

    dir: Path = Path("demo-node")
    height: Height = None
    rows: int = Field(default=20000, ge=1)
    diverge: str | None = None
    seidb_path: str | None = None
    flatkv_dir: Path | None = None
    memiavl_dir: Path | None = None
    sink_url: str | None = None

    @field_validator("diverge")
    @classmethod
    def _known_divergence(cls, value: str | None) -> str | None:
        if value is not None and value not in DIVERGE_CHOICES:
            raise RequestError("diverge", f"{{diverge}}: {quoted(value)} is not one of {', '.join(DIVERGE_CHOICES)}")
        return value

    @field_validator("sink_url")
    @classmethod
    def _sink(cls, value: str | None) -> str | None:
        return None if value is None else _sink_url("sink_url", value, endpoint_url=None, region=None)

    @model_validator(mode="after")
    def _real_seidb_needs_stores(self) -> Self:
        if self.seidb_path and (self.flatkv_dir is None or self.memiavl_dir is None):
            raise RequestError("seidb_path", "{seidb_path} needs {flatkv_dir} and {memiavl_dir} of a real node")
        return self


class _LocalizeBounds(_Checked):
    """What every `evm-digest localize` form shares: height, buckets, decoder, seidb, bounds, sink."""

    height: Annotated[int, Field(ge=1, le=INT64_MAX)]
    buckets: tuple[str, ...]
    normalization: Normalization = Normalization.SEMANTIC
    seidb_path: str | None = None
    max_keys: MaxKeys = 1000
    max_passes: int = Field(default=32, ge=1)
    sink_url: str | None = None
    timeout: Timeout = None

    @field_validator("buckets")
    @classmethod
    def _known_buckets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_buckets(value)

    @field_validator("sink_url")
    @classmethod
    def _sink(cls, value: str | None) -> str | None:
        return None if value is None else _sink_url("sink_url", value, endpoint_url=None, region=None)


class LocalizeRequest(_LocalizeBounds):
    """`evm-digest localize`: the diverging keys of named buckets on a node, ad hoc (no verdict needed)."""

    flatkv_dir: Path
    memiavl_dir: Path
    node: str | None = None

    @field_validator("node")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        return None if value is None else check_node_label(value)

    def check_stores(self) -> None:
        """Both store dirs exist here; run on the machine that scans them."""
        _check_store_dirs(self)


class NodesLocalizeRequest(_LocalizeBounds):
    """`evm-digest localize --node-a NAME=KIND:DIRS --node-b NAME=KIND:DIRS`: the keys diverging between two
    nodes of any kind (a composite node against a reference, typically)."""

    node_a: NodeSpec
    node_b: NodeSpec

    @field_validator("node_a", "node_b", mode="before")
    @classmethod
    def _spec(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        name = str(info.field_name)
        try:
            spec = parse_node_spec(check_text(name, value))
        except ValueError as exc:
            raise RequestError(name, f"{{{name}}}: {str(exc).replace('{', '{{').replace('}', '}}')}") from None
        check_node_label(spec.name, name)
        return spec

    @model_validator(mode="after")
    def _two_nodes(self) -> Self:
        if self.node_a.name == self.node_b.name:
            raise RequestError("node_b", f"{{node_b}}: both nodes are named {self.node_a.name!r}; name them apart")
        return self

    def check_stores(self) -> None:
        """Each node's store dirs (those of its kind) exist here."""
        for name, spec in (("node_a", self.node_a), ("node_b", self.node_b)):
            for field in KIND_DIRS[spec.kind]:
                value: Path = getattr(spec, field)
                if not value.expanduser().is_dir():
                    what = "is not a directory" if value.expanduser().exists() else "does not exist"
                    raise RequestError(
                        name, f"{{{name}}}: {spec.name}'s {field} {quoted(str(value))} {what} on this machine"
                    )
