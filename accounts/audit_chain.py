"""Checking the audit trail: walk the hash chain, name the first broken link, and sign checkpoints of its head.

The chain (``accounts.audit``) makes every stored event vouch for the one before it, so an edited, deleted, inserted
or reordered event breaks a link that ``verify`` finds and names. What the chain alone cannot show is a tail cut
off (or rewritten) together with the chain head: the rest still links up. A *checkpoint* closes that gap: the count
and head hash at some moment, signed with Ed25519 by a key kept outside the database. Checked against the newest
checkpoint, event number ``count`` must still carry the checkpoint's hash, so a truncated or rewritten tail before
it is found too. Checkpoints are exported on demand and daily (``manage.py export_audit_checkpoint``) and are worth
copying off the server: whoever can write the database and the checkpoint directory can only be caught by a copy
they cannot reach (``manage.py verify_audit --checkpoint FILE --public-key KEY``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import QuerySet

from accounts.audit import GENESIS, event_hash
from accounts.audit import _content as content_of
from accounts.models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

#: Rows fetched per round trip while walking: memory stays constant however long the trail is.
CHUNK = 2000
CHECKPOINT_VERSION = 1
CHECKPOINT_GLOB = "audit-checkpoint-*.json"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX16 = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement "the chain held ``count`` events and event number ``count`` had ``head_hash``"."""

    count: int
    head_hash: str
    created_at: str
    key_id: str
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
    signature: str  # base64 of the signature over ``signed_bytes()``
    version: int = CHECKPOINT_VERSION

    def signed_fields(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "count": self.count,
            "head_hash": self.head_hash,
            "created_at": self.created_at,
            "key_id": self.key_id,
            "public_key": self.public_key,
        }

    def signed_bytes(self) -> bytes:
        return _canonical(self.signed_fields())

    def to_json(self) -> str:
        return json.dumps({**self.signed_fields(), "signature": self.signature}, indent=2, sort_keys=True) + "\n"

    def describe(self) -> str:
        return f"checkpoint of {self.created_at} ({self.count} events, key {self.key_id})"


@dataclass(frozen=True)
class ChainReport:
    """What a walk of the chain found. ``kind`` names the first problem (None when intact): ``edited``,
    ``missing``, ``inserted``, ``reordered``, ``head_mismatch``, ``truncated``, ``rewritten`` or
    ``checkpoint_refused``; ``problem`` says it in a sentence naming the event."""

    intact: bool
    count: int
    head_hash: str
    first_broken_pk: int | None
    problem: str | None
    kind: str | None = None
    checkpoint: Checkpoint | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.checkpoint is not None:
            data["checkpoint"] = {**self.checkpoint.signed_fields(), "signature": self.checkpoint.signature}
        return data


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted (unreadable, malformed, altered, forged or signed by another key)."""


class ChainBroken(RuntimeError):
    """Refusal to sign a checkpoint over a chain that does not verify."""

    def __init__(self, report: ChainReport) -> None:
        super().__init__(report.problem)
        self.report = report


# --- Walking the chain ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Break:
    pk: int | None
    kind: str
    problem: str


def verify(*, checkpoint: Checkpoint | None = None, using: str = DEFAULT_DB_ALIAS) -> ChainReport:
    """Walk every event in pk order (constant memory) and report the first broken link; then check the chain head
    and, given a (verified) checkpoint, that event number ``checkpoint.count`` still has the checkpoint's hash.

    The head is read before the walk and, if it disagrees, once more after it, so events appended while the walk
    runs are not mistaken for tampering. ``using`` names the database (a restored copy, say)."""
    events = AuditEvent.objects.using(using)
    head_before = _head(using)
    prev_hash, prev_pk, count = GENESIS, None, 0
    first: _Break | None = None
    at_checkpoint: tuple[int, str] | None = None
    for event in events.order_by("pk").iterator(chunk_size=CHUNK):
        count += 1
        if first is None:
            first = _check(events, event, prev_hash, prev_pk)
        if checkpoint is not None and count == checkpoint.count:
            at_checkpoint = (event.pk, event.hash)
        prev_hash, prev_pk = event.hash, event.pk
    if first is None and checkpoint is not None:
        first = _against_checkpoint(checkpoint, count, prev_pk, at_checkpoint)
    if first is None and head_before != prev_hash:
        first = _head_problem(events, _head(using), count, prev_hash, prev_pk)
    if first is None:
        return ChainReport(True, count, prev_hash, None, None, None, checkpoint)
    return ChainReport(False, count, prev_hash, first.pk, first.problem, first.kind, checkpoint)


def _head(using: str) -> str | None:
    return AuditChainHead.objects.using(using).filter(pk=1).values_list("last_hash", flat=True).first()


def _check(events: QuerySet[AuditEvent], event: AuditEvent, prev_hash: str, prev_pk: int | None) -> _Break | None:
    """The problem with ``event``, given the hash and pk of the event before it in pk order (None if it is fine).

    Only a broken event costs extra queries: which event it links to (``hash`` is unique and indexed) and whether
    the event after it links past it."""
    linked = event.prev_hash == prev_hash
    if event_hash(event.prev_hash, content_of(event)) != event.hash:
        if _runs_past(events, event.pk, prev_hash):  # put there, not edited
            return _inserted_single(event.pk, prev_pk)
        return _Break(event.pk, "edited", f"Event #{event.pk} was edited: its content no longer matches its hash.")
    if linked:
        return None
    target = events.filter(hash=event.prev_hash).values_list("pk", flat=True).first()
    if target is not None and target > event.pk:
        return _Break(
            event.pk,
            "reordered",
            f"Event #{event.pk} is out of order: it follows event #{target}, which is stored after it.",
        )
    if target is not None:  # it links to an event before the previous one: the ones in between do not belong
        first_extra = events.filter(pk__gt=target).order_by("pk").values_list("pk", flat=True).first()
        span = f"#{first_extra}" if first_extra == prev_pk else f"#{first_extra} to #{prev_pk}"
        return _Break(
            first_extra,
            "inserted",
            f"Event(s) {span} were inserted: they are not part of the chain, which runs from #{target} straight "
            f"to #{event.pk}.",
        )
    if _runs_past(events, event.pk, prev_hash):
        return _inserted_single(event.pk, prev_pk)
    if event.prev_hash == GENESIS:  # it claims to open the chain: whatever is stored before it was put there
        first_pk = events.order_by("pk").values_list("pk", flat=True).first()
        return _Break(
            first_pk,
            "inserted",
            f"Event(s) #{first_pk} to #{prev_pk} were inserted before the first event of the chain (#{event.pk}).",
        )
    where = f"between #{prev_pk} and #{event.pk}" if prev_pk is not None else f"before #{event.pk}"
    return _Break(
        event.pk,
        "missing",
        f"Event(s) {where} are missing: event #{event.pk} links to an event that is no longer in the trail.",
    )


def _runs_past(events: QuerySet[AuditEvent], pk: int, prev_hash: str) -> bool:
    """Whether the chain skips the event ``pk``: the event stored after it links to ``prev_hash`` (the one before
    it) or, when it is the last, the chain head still records ``prev_hash``."""
    following = events.filter(pk__gt=pk).order_by("pk").values_list("prev_hash", flat=True)[:1]
    if following:
        return str(following[0]) == prev_hash
    return _head(events.db) == prev_hash


def _inserted_single(pk: int, prev_pk: int | None) -> _Break:
    after = f"after #{prev_pk}" if prev_pk is not None else "at the start"
    return _Break(pk, "inserted", f"Event #{pk} was inserted {after}: the chain runs past it.")


def _against_checkpoint(
    checkpoint: Checkpoint, count: int, last_pk: int | None, at_checkpoint: tuple[int, str] | None
) -> _Break | None:
    if checkpoint.count == 0:
        return None
    if at_checkpoint is None:
        end = f"it ends at #{last_pk}" if last_pk is not None else "it is empty"
        return _Break(
            None,
            "truncated",
            f"The trail was truncated: the {checkpoint.describe()} counts {checkpoint.count} events, but the trail "
            f"holds {count} ({end}).",
        )
    pk, stored = at_checkpoint
    if stored != checkpoint.head_hash:
        return _Break(
            pk,
            "rewritten",
            f"The trail was rewritten at or before event #{pk}: it is event number {checkpoint.count}, whose hash "
            f"the {checkpoint.describe()} records as {checkpoint.head_hash[:12]}…, but it is {stored[:12]}….",
        )
    return None


def _head_problem(
    events: QuerySet[AuditEvent], head: str | None, count: int, last_hash: str, last_pk: int | None
) -> _Break | None:
    """Why the chain head (read again, after the walk) disagrees with the last event walked, if it still does."""
    if head == last_hash or (head is None and count == 0):
        return None
    if head is None:
        return _Break(None, "head_mismatch", f"The chain head is missing, but the trail holds {count} events.")
    at = events.filter(hash=head).values_list("pk", flat=True).first()
    if at is not None and last_pk is not None and at > last_pk:
        return None  # appended while we walked
    if at is not None:
        after = events.filter(pk__gt=at).order_by("pk").values_list("pk", flat=True).first()
        return _Break(
            after,
            "head_mismatch",
            f"Events from #{after} on are not covered by the chain head, which records event #{at}: they were "
            "appended without the chain's lock.",
        )
    end = f"the trail now ends at #{last_pk}" if last_pk is not None else "the trail is now empty"
    return _Break(
        None,
        "head_mismatch",
        f"The newest event(s) were deleted: the chain head records {head[:12]}…, which no event has; {end}.",
    )


# --- Checkpoints --------------------------------------------------------------------------------------------------


def _canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(raw_public_key: bytes) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key."""
    return hashlib.sha256(raw_public_key).hexdigest()[:16]


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path} does not hold an Ed25519 private key")
    if os.name == "posix" and path.stat().st_mode & 0o077:
        logger.warning("The audit checkpoint signing key %s is readable by others: chmod 600 it.", path)
    return key


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key from ``AUDIT_CHECKPOINT_KEY_FILE``, made (mode 0600) on first use.

    Written to a private temporary file and linked into place, so two processes starting at once end up with the
    same key and nobody ever reads half a file."""
    path = Path(settings.AUDIT_CHECKPOINT_KEY_FILE)
    if path.exists():
        return _load_private(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".audit-key-")  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _load_private(path)
    finally:
        os.unlink(tmp)
    raw = _raw(key.public_key())
    logger.warning(
        "Made the audit checkpoint signing key %s: key id %s, public key %s (keep a copy of the public key off "
        "this server to check checkpoints with verify_audit --public-key).",
        path,
        key_id_of(raw),
        base64.b64encode(raw).decode(),
    )
    return key


def local_public_key() -> bytes | None:
    """The raw public key of this server's checkpoint key, if it has one (never makes a key)."""
    path = Path(settings.AUDIT_CHECKPOINT_KEY_FILE)
    return _raw(_load_private(path).public_key()) if path.exists() else None


def parse_public_key(value: str) -> bytes:
    """A pinned public key: a file (PEM, or base64 of the raw key) or the base64 of the raw 32-byte key itself."""
    text = value.strip()
    path = Path(text)
    if len(text) < 4096 and path.is_file():
        text = path.read_text(encoding="utf-8").strip()
    if text.startswith("-----BEGIN"):
        try:
            public = serialization.load_pem_public_key(text.encode())
        except ValueError:
            raise CheckpointError("the public key PEM cannot be read") from None
        if not isinstance(public, Ed25519PublicKey):
            raise CheckpointError("the public key is not an Ed25519 key")
        return _raw(public)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("the public key is neither a readable file nor base64") from None
    if len(raw) != 32:
        raise CheckpointError(f"the public key must be 32 bytes (base64 of the raw key), not {len(raw)}")
    return raw


def sign_checkpoint(*, count: int, head_hash: str, key: Ed25519PrivateKey | None = None) -> Checkpoint:
    key = key or signing_key()
    raw = _raw(key.public_key())
    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    unsigned = Checkpoint(count, head_hash, now, key_id_of(raw), base64.b64encode(raw).decode(), "")
    return replace(unsigned, signature=base64.b64encode(key.sign(unsigned.signed_bytes())).decode())


def export_checkpoint(*, out: Path | None = None) -> tuple[Path, Checkpoint]:
    """Verify the chain (against the newest checkpoint too) and sign its count and head. A chain that does not
    verify is never signed: that would vouch for the tampering."""
    report = audit_status()
    if not report.intact:
        raise ChainBroken(report)
    checkpoint = sign_checkpoint(count=report.count, head_hash=report.head_hash)
    if out is None:
        directory = Path(settings.AUDIT_CHECKPOINT_DIR)
        directory.mkdir(parents=True, exist_ok=True)
        stamp = checkpoint.created_at.replace("-", "").replace(":", "").replace(".", "")
        out = directory / f"audit-checkpoint-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".audit-checkpoint-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(checkpoint.to_json())
    os.chmod(tmp, 0o644)  # a checkpoint is public (count, hash, public key, signature): let backup agents read it
    os.replace(tmp, out)
    logger.info("Exported audit checkpoint %s: %s events, head %s", out, checkpoint.count, checkpoint.head_hash)
    return out, checkpoint


def load_checkpoint(path: Path, *, public_key: bytes | None = None) -> Checkpoint:
    """Read and check a checkpoint file: well formed, its key id matching its key, signed by ``public_key`` when
    one is pinned (else by the key it carries), and the signature good. Raises ``CheckpointError`` saying why not."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CheckpointError(f"cannot be read: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError("is not a checkpoint (not JSON)") from None
    if not isinstance(data, dict):
        raise CheckpointError("is not a checkpoint (not a JSON object)")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"has version {data.get('version')!r}; only {CHECKPOINT_VERSION} is understood")
    expected: dict[str, type] = {
        "count": int,
        "head_hash": str,
        "created_at": str,
        "key_id": str,
        "public_key": str,
        "signature": str,
    }
    for name, kind in expected.items():
        value = data.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise CheckpointError(f"is not a checkpoint ({name} missing or not a {kind.__name__})")
    extra = set(data) - set(expected) - {"version"}
    if extra:
        raise CheckpointError(f"is not a checkpoint (unexpected fields: {', '.join(sorted(extra))})")
    if data["count"] < 0 or not _HEX64.fullmatch(data["head_hash"]) or not _HEX16.fullmatch(data["key_id"]):
        raise CheckpointError("is not a checkpoint (count, head_hash or key_id malformed)")
    try:
        embedded = base64.b64decode(data["public_key"], validate=True)
        signature = base64.b64decode(data["signature"], validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("is not a checkpoint (public_key or signature is not base64)") from None
    if len(embedded) != 32 or key_id_of(embedded) != data["key_id"]:
        raise CheckpointError("is not a checkpoint (its key id does not match its public key)")
    if public_key is not None and embedded != public_key:
        raise CheckpointError(
            f"was signed by key {data['key_id']}, not by the expected key {key_id_of(public_key)}: "
            "it is forged, or from another server or key"
        )
    checkpoint = Checkpoint(
        data["count"], data["head_hash"], data["created_at"], data["key_id"], data["public_key"], data["signature"]
    )
    try:
        Ed25519PublicKey.from_public_bytes(embedded).verify(signature, checkpoint.signed_bytes())
    except InvalidSignature:
        raise CheckpointError("has a signature that does not verify: it was altered or forged") from None
    return checkpoint


def newest_checkpoint_file() -> Path | None:
    """The newest exported checkpoint in ``AUDIT_CHECKPOINT_DIR`` (names sort by their UTC time stamp)."""
    directory = Path(settings.AUDIT_CHECKPOINT_DIR)
    if not directory.is_dir():
        return None
    return max(directory.glob(CHECKPOINT_GLOB), default=None, key=lambda p: p.name)


def audit_status(*, public_key: bytes | None = None) -> ChainReport:
    """The chain verified against the newest checkpoint in ``AUDIT_CHECKPOINT_DIR`` (if any), for the daily
    security report. The checkpoint must be signed by ``public_key``, else by this server's own key (when it has
    one); a checkpoint that fails its checks makes the report not intact."""
    path = newest_checkpoint_file()
    if path is None:
        return verify()
    pinned = public_key if public_key is not None else local_public_key()
    try:
        checkpoint = load_checkpoint(path, public_key=pinned)
    except CheckpointError as exc:
        report = verify()
        if not report.intact:
            return report
        return replace(
            report,
            intact=False,
            kind="checkpoint_refused",
            problem=f"The newest checkpoint {path.name} is refused: it {exc}.",
        )
    return verify(checkpoint=checkpoint)
