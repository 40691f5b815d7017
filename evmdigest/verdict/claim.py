"""One run at a time per (node, height): a write-once claim object in the sink, no orchestrator needed.

The verdict-set check and the publication of a height's records happen only while holding the claim
`[<node>/]claims/claim-<height>.json` (segments.claim_key):

1. acquire: `Sink.emit_control` writes it write-once (S3 `If-None-Match: *`, folder link(2)). Taken:
   poll with backoff (0.5 s doubling to 10 s) until it is released, expires, or `wait` runs out
   (ClaimTimeout names the holder).
2. takeover of an expired claim (its run crashed): re-read it, delete it only if it is still that
   claim, write ours write-once, wait `settle` seconds and re-read: still ours -> held, else back to 1.
3. confirm() before publishing: the key still holds our claim, with time left.
4. release: delete it if it is still ours. A claim we cannot delete (S3 without s3:DeleteObject)
   stays until it expires; the next run at that height then cannot take it over and says why.

Residual race (documented in the README): two runs taking over the same expired claim can both hold
it only if one's re-read-then-delete straddles the other's delete, write and settle (more than
`settle` seconds for one DeleteObject), or if a holder outlives its own expiry (ttl is 10 min; a
claim is held for the check and the publication only, seconds). Expiry is judged on the reader's
clock: hosts sharing a sink need clocks within a small fraction of `ttl` (NTP).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from evmdigest.emit import CorruptObject, Sink, SinkConflict, SinkError, SinkErrorKind, SinkNotFound
from evmdigest.segments import claim_key

ClaimFormat = Literal["evm-digest.claim/1"]
CLAIM_FORMAT: ClaimFormat = get_args(ClaimFormat)[0]
CLAIM_TTL = 600.0  # seconds a claim stands if its run never releases it (crash, kill -9)
CLAIM_WAIT = 660.0  # a waiting run outlives a crashed holder's claim, then takes it over
SETTLE = 1.0  # seconds between writing a taken-over claim and re-reading it
MIN_LEFT = 30.0  # confirm() wants at least this much time left on our claim


class Claim(BaseModel):
    """Who holds a (node, height) and until when."""

    model_config = ConfigDict(frozen=True)

    format: ClaimFormat = CLAIM_FORMAT
    claim_id: str
    run_id: str
    host: str
    pid: int
    node: str | None
    height: int
    created: datetime
    expires: datetime

    def seconds_left(self, now: datetime | None = None) -> float:
        return (self.expires - (now or datetime.now(UTC))).total_seconds()

    def holder(self) -> str:
        return f"run {self.run_id} (host {self.host}, pid {self.pid}) since {self.created:%Y-%m-%dT%H:%M:%SZ}"


class ClaimError(Exception):
    """The claim on a (node, height) could not be taken or kept; nothing was published."""

    exit_code = 2
    hint = "another run is publishing this height; wait for it, or remove the claim if no run is active"

    def __init__(self, what: str, hint: str | None = None) -> None:
        self.what = what
        if hint is not None:
            self.hint = hint
        super().__init__(f"{what}. Hint: {self.hint}")

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.what, self.hint))  # flow failures are pickled across processes


class ClaimTimeout(ClaimError):
    """Another run held the claim for longer than this run would wait."""


class ClaimLost(ClaimError):
    """Our claim was taken over or expired before we published."""


class HeightClaim:
    """`with HeightClaim(sink, height, node, run_id=...) as claim:` check, `claim.confirm()`, publish."""

    def __init__(
        self,
        sink: Sink,
        height: int,
        node: str | None = None,
        *,
        run_id: str,
        ttl: float = CLAIM_TTL,
        wait: float = CLAIM_WAIT,
        poll: float = 0.5,
        max_poll: float = 10.0,
        settle: float = SETTLE,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.sink, self.height, self.node, self.run_id = sink, height, node, run_id
        self.key = claim_key(height, node)
        self.ttl, self.wait, self.poll, self.max_poll, self.settle = ttl, wait, poll, max_poll, settle
        self._log = log or (lambda message: None)
        self.held: Claim | None = None

    def _new(self) -> Claim:
        now = datetime.now(UTC)
        return Claim(
            claim_id=uuid.uuid4().hex,
            run_id=self.run_id,
            host=os.uname().nodename,
            pid=os.getpid(),
            node=self.node,
            height=self.height,
            created=now,
            expires=now + timedelta(seconds=self.ttl),
        )

    def _read(self) -> Claim | None:
        """The claim stored now; None if there is none. An unreadable claim is never judged expired."""
        try:
            return Claim.model_validate(self.sink.read_document(self.key))
        except SinkNotFound:
            return None
        except (CorruptObject, ValidationError) as exc:
            raise ClaimError(
                f"the claim {self.sink.uri_for(self.key)} is not an evm-digest claim ({type(exc).__name__})",
                "remove that object if no evm-digest run is active on this node and height, then re-run",
            ) from exc

    def _try_write(self) -> Claim | None:
        claim = self._new()
        try:
            self.sink.emit_control(self.key, claim.model_dump(mode="json"))
        except SinkConflict:
            return None
        return claim

    def acquire(self) -> Claim:
        deadline = time.monotonic() + self.wait
        delay = self.poll
        while True:
            claim = self._try_write()
            if claim is not None:
                self.held = claim
                return claim
            current = self._read()
            if current is None:
                continue  # released between our write and our read: try again at once
            if current.seconds_left() <= 0:
                taken = self._take_over(current)
                if taken is not None:
                    self.held = taken
                    return taken
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClaimTimeout(
                    f"height {self.height}{self._on()} is claimed by {current.holder()} until "
                    f"{current.expires:%Y-%m-%dT%H:%M:%SZ} ({self.sink.uri_for(self.key)}); waited {self.wait:g} s",
                    "re-run once that run has finished; if it is gone, its claim expires at the time shown and "
                    "the next run takes it over",
                )
            self._log(f"height {self.height}{self._on()} is claimed by {current.holder()}; waiting")
            time.sleep(min(delay, left))
            delay = min(delay * 2, self.max_poll)

    def _take_over(self, stale: Claim) -> Claim | None:
        again = self._read()
        if again is None or again.claim_id != stale.claim_id:
            return None  # released or taken over meanwhile: start again
        self._log(f"taking over the expired claim of {stale.holder()} on height {self.height}{self._on()}")
        try:
            self.sink.delete_control(self.key)
        except SinkError as err:
            raise ClaimError(
                f"the expired claim {self.sink.uri_for(self.key)} of {stale.holder()} cannot be removed: {err.what}",
                _DELETE_HINT if err.kind is SinkErrorKind.ACCESS_DENIED else err.hint,
            ) from err
        claim = self._try_write()
        if claim is None:
            return None  # another run wrote its claim first
        time.sleep(self.settle)  # let a concurrent taker's delete land before we believe we hold it
        current = self._read()
        return claim if current is not None and current.claim_id == claim.claim_id else None

    def confirm(self) -> None:
        """Raise ClaimLost unless the sink still holds our claim with time left; call it right before publishing."""
        if self.held is None:
            raise ClaimLost(f"height {self.height}{self._on()} is not claimed by this run")
        current = self._read()
        if current is None or current.claim_id != self.held.claim_id:
            who = current.holder() if current is not None else "nobody"
            raise ClaimLost(f"the claim on height {self.height}{self._on()} is now held by {who}; nothing published")
        if current.seconds_left() < MIN_LEFT:
            raise ClaimLost(
                f"the claim on height {self.height}{self._on()} expires in {current.seconds_left():.0f} s, too "
                "little to publish safely; nothing published",
                "re-run; if checks are this slow, the sink is unhealthy",
            )

    def release(self) -> bool:
        """Delete our claim if it is still ours; never raises (the run's own outcome matters more)."""
        held, self.held = self.held, None
        if held is None:
            return False
        try:
            current = self._read()
            if current is None or current.claim_id != held.claim_id:
                return False
            self.sink.delete_control(self.key)
        except (SinkError, ClaimError) as exc:
            self._log(
                f"could not release the claim {self.sink.uri_for(self.key)} ({exc}); it expires at {held.expires}"
            )
            return False
        return True

    def _on(self) -> str:
        return f" on node {self.node}" if self.node else ""

    def __enter__(self) -> HeightClaim:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


_DELETE_HINT = (
    "grant s3:DeleteObject on <prefix>/claims/* and <prefix>/*/claims/* (claims are released and expired ones "
    "taken over by deleting them), or delete that claim by hand once no run is active"
)
