"""Run parameters, typed and checked in one place: the CLI and the flow both build a RunRequest.

A bad parameter raises RequestError naming the field and the fix. Its message is a template whose
`{field}` placeholders each front end renders its own way: the flow prints parameter names, the CLI
its flags (the CLI's argparse dests are these field names). Store directories are checked where the
stores live (`check_stores`, on the worker); everything else is checked on construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evmdigest.models import BUCKETS, Normalization, OpenMode
from evmdigest.sim.generate import DIVERGE_BUCKET

Height = Annotated[int | None, Field(ge=1)]
"""A segment boundary height; None seals the newest memiavl snapshot not yet sealed."""
Timeout = Annotated[float | None, Field(gt=0)]
"""Seconds one scan may run before it is killed; None: the SeidbCli block's (3600)."""
MaxKeys = Annotated[int, Field(ge=1)]
"""Diverging keys localization names per bucket at most (more: the bucket is reported `capped`)."""
DEFAULT_NORMALIZATIONS: tuple[Normalization, ...] = tuple(Normalization)
DIVERGE_CHOICES: tuple[str, ...] = tuple(DIVERGE_BUCKET)


def quoted(value: object) -> str:
    """`value` as a message template shows it (repr, braces doubled so they are not read as fields)."""
    return repr(value).replace("{", "{{").replace("}", "}}")


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

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.field, self.template))  # flow failures are pickled across processes


def _build(model: type[_Checked], values: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, RequestError):
            raise cause from None
        field = str(first["loc"][0]) if first["loc"] else "request"
        message = str(first["msg"]).replace("{", "{{").replace("}", "}}")
        raise RequestError(field, f"{{{field}}}: {message}") from None


def _check_store_dirs(request: RunRequest | LocalizeRequest) -> None:
    for field in ("flatkv_dir", "memiavl_dir"):
        value: Path = getattr(request, field)
        if not value.expanduser().is_dir():
            raise RequestError(
                field, f"{{{field}}}: {quoted(str(value))} is not a directory on this worker; give the store's path"
            )


class _Checked(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def create(cls, **values: Any) -> Self:
        """Build and check; raise RequestError (never pydantic's ValidationError)."""
        built: Self = _build(cls, values)
        return built


class RunRequest(_Checked):
    """One gate run: which stores, which height, which decoders, which seidb and sink, how long."""

    flatkv_dir: Path
    memiavl_dir: Path
    height: Height = None
    normalizations: tuple[Normalization, ...] = DEFAULT_NORMALIZATIONS
    open_mode: OpenMode = OpenMode.SNAPSHOT
    seidb_path: str | None = None
    sink_url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    node: str | None = None
    timeout: Timeout = None
    localize: bool = True
    localize_max_keys: MaxKeys = 1000

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

    @model_validator(mode="after")
    def _s3_options_need_a_sink(self) -> Self:
        if self.sink_url is None and (self.endpoint_url or self.region):
            field = "endpoint_url" if self.endpoint_url else "region"
            raise RequestError(field, "{endpoint_url}/{region} configure an S3 sink; add {sink_url} s3://bucket/prefix")
        return self

    def check_stores(self) -> None:
        """Both store dirs exist here; run on the machine that scans them (the flow's worker)."""
        _check_store_dirs(self)


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

    @model_validator(mode="after")
    def _real_seidb_needs_stores(self) -> Self:
        if self.seidb_path and (self.flatkv_dir is None or self.memiavl_dir is None):
            raise RequestError("seidb_path", "{seidb_path} needs {flatkv_dir} and {memiavl_dir} of a real node")
        return self


class LocalizeRequest(_Checked):
    """`evm-digest localize`: the diverging keys of named buckets on a node, ad hoc (no verdict needed)."""

    height: Annotated[int, Field(ge=1)]
    flatkv_dir: Path
    memiavl_dir: Path
    buckets: tuple[str, ...]
    normalization: Normalization = Normalization.SEMANTIC
    seidb_path: str | None = None
    max_keys: MaxKeys = 1000
    max_passes: Annotated[int, Field(ge=1)] = 32
    sink_url: str | None = None
    node: str | None = None
    timeout: Timeout = None

    @field_validator("buckets")
    @classmethod
    def _known_buckets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for bucket in value:
            if bucket not in BUCKETS:
                raise RequestError("buckets", f"{{buckets}}: {quoted(bucket)} is not one of {', '.join(BUCKETS)}")
        if not value:
            raise RequestError("buckets", f"{{buckets}}: name at least one of {', '.join(BUCKETS)}")
        return tuple(dict.fromkeys(value))

    def check_stores(self) -> None:
        _check_store_dirs(self)
