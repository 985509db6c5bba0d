"""The tamper-evident audit trail: ``verify_audit`` names the first broken link of the hash chain for every kind of
tampering (edited, deleted, inserted, reordered), a signed checkpoint catches a tail cut off or rewritten together
with the chain head, and a forged or altered checkpoint is refused.

The attacker here has a database login: on PostgreSQL the test connection sets ``session_replication_role =
replica`` (for this transaction only), which silences the append-only triggers, and writes through a plain
``QuerySet`` or raw SQL, bypassing the append-only manager. Each tampering runs in a savepoint that is rolled back.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import stat
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import QuerySet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import audit_chain
from accounts.audit import GENESIS, Actor, _content, audit_record, event_hash
from accounts.models import AuditChainHead, AuditEvent
from tests.factories import UserFactory

TABLE = AuditEvent._meta.db_table
EVENTS = 8
GAP = 9  # pk numbers left unused after each event (as rolled-back transactions leave them), room for intruders


@pytest.fixture(autouse=True)
def _checkpoint_files(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "audit-checkpoint-key.pem"


def _leave_gap() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), (SELECT max(id) FROM {TABLE}) + %s)",  # noqa: S608
                [GAP],
            )
        else:
            cursor.execute("UPDATE sqlite_sequence SET seq = seq + %s WHERE name = %s", [GAP, TABLE])


@pytest.fixture
def chain(db) -> list[int]:
    """A chain of real events written by ``audit_record``; returns every event's pk, oldest first."""
    user = UserFactory(username="clerk")
    for i in range(EVENTS):
        with transaction.atomic():
            audit_record(
                actor=Actor(user=user if i % 2 else None, ip_address=f"192.0.2.{i + 1}", device=f"tablet-{i}"),
                action=["grant.created", "device.enrolled", "session.ended", "user.disabled"][i % 4],
                object_type="accounts.rolegrant",
                object_id=str(100 + i),
                before=None if i % 3 == 0 else {"state": "old", "n": i, "note": "ünïcode"},
                after={"state": "new", "n": i, "tags": ["a", "b"], "at": "2024-11-05T12:00:00+00:00"},
            )
        _leave_gap()
    return list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))


@contextmanager
def attacker() -> Iterator[None]:
    """A savepoint in which the append-only triggers are silent (PostgreSQL) and which is always rolled back."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        yield
        transaction.set_rollback(True)


def raw() -> QuerySet[AuditEvent]:
    """The audit table without the append-only manager: what SQL from a database login can do."""
    return QuerySet(model=AuditEvent)


def sql(statement: str, params: list[object]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement.format(table=TABLE), params)


def set_head(value: str) -> None:
    AuditChainHead.objects.filter(pk=1).update(last_hash=value)


def head() -> str:
    return AuditChainHead.objects.get(pk=1).last_hash


# --- The tamperings -----------------------------------------------------------------------------------------------

FIELDS = [
    "actor_label",
    "action",
    "object_id",
    "ip_address",
    "device",
    "before",
    "after",
    "occurred_at",
    "actor",
    "prev_hash",
    "hash",
]


def edit(pk: int, field: str) -> None:
    event = AuditEvent.objects.get(pk=pk)
    new = {
        "actor_label": event.actor_label + " (forged)",
        "action": "grant.ended" if event.action != "grant.ended" else "grant.created",
        "object_id": event.object_id + "9",
        "ip_address": "203.0.113.66",
        "device": "forged",
        "before": {"forged": True},
        "after": {"forged": True},
        "occurred_at": event.occurred_at + dt.timedelta(seconds=1),
        "actor": None if event.actor_id else UserFactory(username="mallory"),
        "prev_hash": "f" * 64,
        "hash": "e" * 64,
    }[field]
    raw().filter(pk=pk).update(**{field: new})


def delete(*pks: int) -> None:
    for pk in pks:
        sql("DELETE FROM {table} WHERE id = %s", [pk])


def forge(pk: int, *, prev_hash: str, consistent: bool = True) -> AuditEvent:
    """Insert a made-up event at ``pk`` linking to ``prev_hash``, its own hash computed the way the service does
    (or not, when ``consistent`` is false)."""
    event = AuditEvent(
        pk=pk,
        occurred_at=dt.datetime(2024, 11, 5, 12, 0, 0, 123456, tzinfo=dt.UTC),
        actor=None,
        actor_label="system",
        action="grant.created",
        object_type="accounts.rolegrant",
        object_id="4242",
        ip_address=None,
        device="",
        before=None,
        after={"role": "state_admin", "user": "mallory"},
        prev_hash=prev_hash,
    )
    event.hash = event_hash(prev_hash, _content(event)) if consistent else hashlib.sha256(b"junk").hexdigest()
    event.save(force_insert=True)
    return event


def swap(pk_a: int, pk_b: int) -> None:
    """Swap the whole content of two rows (hashes included): each row is still consistent in itself."""
    names = [f.attname for f in AuditEvent._meta.concrete_fields if f.attname != "id"]
    a = raw().filter(pk=pk_a).values(*names).get()
    b = raw().filter(pk=pk_b).values(*names).get()
    raw().filter(pk=pk_a).update(hash="0" * 63 + "1")  # hash is unique
    raw().filter(pk=pk_b).update(**a)
    raw().filter(pk=pk_a).update(**b)


def move_to_end(pk: int) -> int:
    """Delete an event and store it again, unchanged, after the newest one."""
    event = AuditEvent.objects.get(pk=pk)
    new_pk = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True)[0] + GAP
    delete(pk)
    event.pk = new_pk
    event.save(force_insert=True)
    return new_pk


def rewrite_from(position: int, pks: list[int]) -> None:
    """Rewrite the events from ``position`` on and re-chain them and the head, as an attacker who knows the hash
    function (it has no secret) can: the chain alone then verifies."""
    prev = AuditEvent.objects.get(pk=pks[position - 1]).hash if position else GENESIS
    for pk in pks[position:]:
        event = AuditEvent.objects.get(pk=pk)
        event.after = {"state": "rewritten"}
        event.prev_hash = prev
        event.hash = event_hash(prev, _content(event))
        raw().filter(pk=pk).update(after=event.after, prev_hash=event.prev_hash, hash=event.hash)
        prev = event.hash
    set_head(prev)


# --- "always found": every tampering, wherever it is done ---------------------------------------------------------


@st.composite
def tamperings(draw: st.DrawFn) -> tuple[str, tuple[int, ...]]:
    kind = draw(st.sampled_from(["edit", "delete", "insert", "swap", "move"]))
    i = draw(st.integers(0, EVENTS - 1))
    if kind == "edit":
        return kind, (i, draw(st.integers(0, len(FIELDS) - 1)))
    if kind == "delete":
        return kind, (i, draw(st.integers(1, EVENTS - i)))
    if kind == "insert":
        return kind, (i, draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    if kind == "swap":
        return kind, (min(i, EVENTS - 2), draw(st.integers(min(i, EVENTS - 2) + 1, EVENTS - 1)))
    return kind, (min(i, EVENTS - 2),)


def apply(kind: str, args: tuple[int, ...], pks: list[int]) -> tuple[int | None, str]:
    """Do the tampering; returns the pk the report must name first and the kind of problem it must give."""
    last = len(pks) - 1
    if kind == "edit":
        i, field = args
        edit(pks[i], FIELDS[field])
        return pks[i], "edited"
    if kind == "delete":
        i, run = args
        delete(*pks[i : i + run])
        return (pks[i + run], "missing") if i + run <= last else (None, "head_mismatch")
    if kind == "insert":
        i, linked, consistent = args
        before = AuditEvent.objects.get(pk=pks[i]).hash
        forged = forge(pks[i] + 1, prev_hash=before if linked else "ab" * 32, consistent=bool(consistent))
        if i == last and linked and consistent:  # appended after the newest event: only the head shows it
            return forged.pk, "head_mismatch"
        return forged.pk, "inserted"
    if kind == "swap":
        i, j = args
        swap(pks[i], pks[j])
        return pks[i], "reordered"
    (i,) = args
    move_to_end(pks[i])
    return pks[i + 1], "reordered"


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tampering=tamperings())
def test_every_edit_deletion_insertion_or_reordering_is_found_at_its_first_broken_link(chain, tampering):
    assert audit_chain.verify().intact
    with attacker():
        expected_pk, expected_kind = apply(*tampering, chain)
        report = audit_chain.verify()
    assert not report.intact
    assert (report.first_broken_pk, report.kind) == (expected_pk, expected_kind), report.problem
    if expected_pk is not None:
        assert f"#{expected_pk}" in report.problem
    assert audit_chain.verify().intact  # rolled back


def test_an_untouched_chain_verifies_and_says_so(chain):
    report = audit_chain.verify()
    assert report == audit_chain.ChainReport(True, len(chain), head(), None, None, None, None)
    out = StringIO()
    call_command("verify_audit", stdout=out)
    assert f"Audit trail intact: {len(chain)} events, head {head()}; no checkpoint." in out.getvalue()


def verify_audit(*args: str) -> tuple[int, str]:
    """Run the command as the console does; returns (exit code, what it printed or the error message)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue() + err.getvalue()


@pytest.mark.parametrize(
    "case",
    ["raw UPDATE of a field", "middle row deleted", "tail deleted, head left", "forged row inserted", "rows swapped"],
)
def test_the_command_exits_1_naming_the_first_broken_event(chain, case):
    with attacker():
        if case == "raw UPDATE of a field":
            sql("UPDATE {table} SET actor_label = %s WHERE id = %s", ["someone else (#1)", chain[3]])
            expected = f"Event #{chain[3]} was edited: its content no longer matches its hash."
        elif case == "middle row deleted":
            delete(chain[4])
            expected = f"Event(s) between #{chain[3]} and #{chain[5]} are missing: event #{chain[5]} links to"
        elif case == "tail deleted, head left":
            delete(chain[-1])
            expected = f"The newest event(s) were deleted: the chain head records {head()[:12]}…, which no event has"
        elif case == "forged row inserted":
            forge(chain[2] + 1, prev_hash=AuditEvent.objects.get(pk=chain[2]).hash)
            expected = f"Event(s) #{chain[2] + 1} were inserted: they are not part of the chain, which runs from "
        else:
            swap(chain[1], chain[5])
            expected = f"Event #{chain[1]} is out of order: it follows event #{chain[4]}, which is stored after it."
        code, message = verify_audit()
        json_code, json_out = verify_audit("--format", "json")
    assert code == 1 and message.startswith("Audit trail NOT intact: ") and expected in message
    assert json_code == 1 and expected in json_out


def test_json_output_of_an_intact_chain(chain):
    out = StringIO()
    call_command("verify_audit", "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    assert data == {
        "intact": True,
        "count": len(chain),
        "head_hash": head(),
        "first_broken_pk": None,
        "problem": None,
        "kind": None,
        "checkpoint": None,
    }


def test_a_chain_head_missing_or_left_behind_is_found(chain):
    with attacker():
        AuditChainHead.objects.all().delete()
        report = audit_chain.verify()
    assert (report.kind, report.first_broken_pk) == ("head_mismatch", None)
    assert report.problem == f"The chain head is missing, but the trail holds {len(chain)} events."
    with attacker():
        set_head(AuditEvent.objects.get(pk=chain[5]).hash)
        report = audit_chain.verify()
    assert (report.kind, report.first_broken_pk) == ("head_mismatch", chain[6])


def test_an_empty_trail_verifies(db):
    report = audit_chain.verify()
    assert report.intact and report.count == 0 and report.head_hash == GENESIS


# --- Checkpoints: what the chain alone cannot see -----------------------------------------------------------------


def export(*args: str) -> Path:
    out = StringIO()
    call_command("export_audit_checkpoint", *args, stdout=out)
    return Path(out.getvalue().strip())


@pytest.mark.parametrize("deleted", [1, 3])
def test_a_tail_cut_off_with_its_head_rewritten_is_found_only_against_a_checkpoint(chain, deleted):
    checkpoint_file = export()
    with attacker():
        delete(*chain[-deleted:])
        set_head(AuditEvent.objects.get(pk=chain[-deleted - 1]).hash)
        alone = audit_chain.verify()
        against = audit_chain.audit_status()
        code, message = verify_audit()
        explicit_code, explicit = verify_audit("--checkpoint", str(checkpoint_file))
        unchecked_code, _ = verify_audit("--no-checkpoint")
    assert alone.intact and unchecked_code == 0  # the chain alone links up
    assert (against.intact, against.kind, against.first_broken_pk) == (False, "truncated", None)
    expected = f"counts {len(chain)} events, but the trail holds {len(chain) - deleted} (it ends at "
    assert expected in against.problem
    assert code == 1 and expected in message
    assert explicit_code == 1 and expected in explicit


def test_a_tail_rewritten_with_its_head_is_found_only_against_a_checkpoint(chain):
    export()
    with attacker():
        rewrite_from(len(chain) - 3, chain)
        alone = audit_chain.verify()
        against = audit_chain.audit_status()
    assert alone.intact
    assert (against.intact, against.kind, against.first_broken_pk) == (False, "rewritten", chain[-1])
    assert f"The trail was rewritten at or before event #{chain[-1]}: it is event number {len(chain)}" in (
        against.problem
    )


def test_events_after_a_checkpoint_are_fine_and_rewriting_before_it_is_found(chain):
    export()
    with transaction.atomic():
        audit_record(actor=Actor.system(), action="test.later", object_type="test", object_id="1")
    report = audit_chain.audit_status()
    assert report.intact and report.count == len(chain) + 1 and report.checkpoint.count == len(chain)
    with attacker():
        rewrite_from(2, [*chain, AuditEvent.objects.order_by("-pk")[0].pk])
        assert audit_chain.verify().intact
        report = audit_chain.audit_status()
    assert (report.kind, report.first_broken_pk) == ("rewritten", chain[-1])


def test_exporting_makes_a_private_key_once_and_signs_count_and_head(chain, settings, caplog):
    key_file = Path(settings.AUDIT_CHECKPOINT_KEY_FILE)
    assert not key_file.exists()
    with caplog.at_level(logging.WARNING, logger="accounts.audit_chain"):
        first = export()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    raw_public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(raw_public).hexdigest()[:16]
    assert f"key id {key_id}, public key {base64.b64encode(raw_public).decode()}" in caplog.text
    assert first.parent == Path(settings.AUDIT_CHECKPOINT_DIR) and first.name.startswith("audit-checkpoint-")
    data = json.loads(first.read_text())
    assert set(data) == {"version", "count", "head_hash", "created_at", "key_id", "public_key", "signature"}
    assert (data["version"], data["count"], data["head_hash"], data["key_id"]) == (1, len(chain), head(), key_id)
    signed = {k: v for k, v in data.items() if k != "signature"}
    key.public_key().verify(
        base64.b64decode(data["signature"]), json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    )
    key_made = key_file.read_bytes()
    caplog.clear()
    second = export()
    assert second != first and key_file.read_bytes() == key_made and "Made the audit" not in caplog.text
    assert audit_chain.newest_checkpoint_file() == second
    elsewhere = export("--out", str(key_file.parent.parent / "copy.json"))
    assert elsewhere.name == "copy.json" and json.loads(elsewhere.read_text())["count"] == len(chain)


def test_a_broken_chain_is_never_signed(chain, settings):
    with attacker():
        edit(chain[2], "after")
        with pytest.raises(CommandError, match=f"not intact: Event #{chain[2]} was edited") as refused:
            export()
    assert refused.value.returncode == 1
    assert not Path(settings.AUDIT_CHECKPOINT_DIR).exists() or not any(Path(settings.AUDIT_CHECKPOINT_DIR).iterdir())


# --- Forged and altered checkpoints -------------------------------------------------------------------------------


def forged_checkpoint(path: Path, **changes: object) -> Path:
    """A checkpoint signed by the forger's own key (which it carries), with ``changes`` applied before signing."""
    key = Ed25519PrivateKey.generate()
    good = json.loads(path.read_text())
    checkpoint = audit_chain.sign_checkpoint(count=good["count"], head_hash=good["head_hash"], key=key)
    data = {**json.loads(checkpoint.to_json()), **changes}
    if changes:
        unsigned = {k: v for k, v in data.items() if k != "signature"}
        data["signature"] = base64.b64encode(key.sign(audit_chain._canonical(unsigned))).decode()
    target = path.with_name("forged.json")
    target.write_text(json.dumps(data))
    return target


def local_key_b64() -> str:
    return base64.b64encode(audit_chain.local_public_key()).decode()


def test_an_altered_checkpoint_is_refused(chain):
    good = export()
    data = json.loads(good.read_text())
    data["count"] -= 2  # hide the last two events from the checkpoint
    altered = good.with_name("altered.json")
    altered.write_text(json.dumps(data))
    code, message = verify_audit("--checkpoint", str(altered))
    assert code == 1
    assert message == (
        f"The checkpoint {altered} is refused: it has a signature that does not verify: it was altered or forged."
    )


def test_a_checkpoint_forged_with_another_key_is_refused_against_a_pinned_or_the_local_key(chain, settings, tmp_path):
    good = export()
    pinned = local_key_b64()
    with attacker():
        delete(chain[-1], chain[-2])
        set_head(AuditEvent.objects.get(pk=chain[-3]).hash)
        # the forger signs a checkpoint of the truncated chain with a key of their own
        forged = forged_checkpoint(good, count=len(chain) - 2, head_hash=head())
        codes = {
            "pinned base64": verify_audit("--checkpoint", str(forged), "--public-key", pinned),
            "local key": verify_audit("--checkpoint", str(forged)),
        }
        pem = tmp_path / "pinned.pem"
        pem.write_bytes(
            serialization.load_pem_private_key(Path(settings.AUDIT_CHECKPOINT_KEY_FILE).read_bytes(), None)
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        codes["pinned PEM file"] = verify_audit("--checkpoint", str(forged), "--public-key", str(pem))
        genuine = verify_audit("--checkpoint", str(good), "--public-key", str(pem))
        # an outsider without the server's key who trusts whatever key a checkpoint carries is fooled: hence pinning
        Path(settings.AUDIT_CHECKPOINT_KEY_FILE).unlink()
        unpinned = verify_audit("--checkpoint", str(forged))
        trusting = verify_audit("--checkpoint", str(forged), "--trust-embedded-key")
    key_id = json.loads(good.read_text())["key_id"]
    forged_id = json.loads(forged.read_text())["key_id"]
    for code, message in codes.values():
        assert code == 1
        assert f"it was signed by key {forged_id}, not by the expected key {key_id}: it is forged" in message
    assert genuine[0] == 1 and "The trail was truncated" in genuine[1]
    # With no key at hand the command refuses rather than trust the key a checkpoint carries …
    assert unpinned[0] == 1 and "No key to check the checkpoint's signature against" in unpinned[1]
    # … and whoever tells it to trust that key anyway is fooled, and told so: hence pinning.
    assert trusting[0] == 0 and f"Trusting the key the checkpoint carries ({forged_id})" in trusting[1]


def test_a_genuine_checkpoint_checked_against_a_wrong_pinned_key_is_refused(chain):
    good = export()
    stranger = base64.b64encode(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode()
    code, message = verify_audit("--checkpoint", str(good), "--public-key", stranger)
    assert code == 1 and "is refused: it was signed by key" in message
    assert f"not by the expected key {audit_chain.key_id_of(base64.b64decode(stranger))}" in message
    ok_code, ok = verify_audit("--checkpoint", str(good), "--public-key", local_key_b64())
    assert ok_code == 0 and "matches the checkpoint of" in ok


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "it is not a checkpoint (not JSON)"),
        ("[1, 2]", "it is not a checkpoint (not a JSON object)"),
        ('{"version": 2}', "it has version 2; only 1 is understood"),
        ('{"version": 1, "count": "8"}', "it is not a checkpoint (count missing or not a int)"),
    ],
)
def test_a_malformed_checkpoint_is_refused_clearly(chain, tmp_path, content, reason):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert verify_audit("--checkpoint", str(path), "--trust-embedded-key") == (
        1,
        f"The checkpoint {path} is refused: {reason}.",
    )


@pytest.mark.parametrize(
    ("value", "reason"),
    [("not base64!", "neither a readable file nor base64"), (base64.b64encode(b"short").decode(), "must be 32")],
)
def test_a_malformed_public_key_is_refused_clearly(chain, value, reason):
    code, message = verify_audit("--public-key", value)
    assert code == 1 and message.startswith("The public key is refused: ") and reason in message


def test_the_daily_status_refuses_a_newest_checkpoint_it_cannot_trust(chain, settings):
    good = export()
    forged = forged_checkpoint(good)
    forged.rename(good.with_name("audit-checkpoint-99991231T235959999999Z.json"))
    report = audit_chain.audit_status()
    assert (report.intact, report.kind, report.first_broken_pk) == (False, "checkpoint_refused", None)
    assert "The newest checkpoint audit-checkpoint-99991231T235959999999Z.json is refused: it was signed" in (
        report.problem
    )
    code, _ = verify_audit()
    assert code == 1


def test_the_walk_holds_one_chunk_of_rows_at_a_time(db, monkeypatch):
    """Memory stays flat however long the trail: walking 9 chunks of rows peaks where walking 3 does (the database
    driver holds at most two chunks at a time)."""

    def fill(n: int) -> None:
        prev = AuditChainHead.objects.filter(pk=1).values_list("last_hash", flat=True).first() or GENESIS
        rows = []
        for i in range(n):
            event = AuditEvent(
                occurred_at=dt.datetime(2024, 11, 5, tzinfo=dt.UTC) + dt.timedelta(seconds=i),
                actor_label="system",
                action="test.bulk",
                object_type="test",
                object_id=str(i),
                after={"i": i, "padding": "x" * 200},
                prev_hash=prev,
            )
            event.hash = prev = event_hash(prev, _content(event))
            rows.append(event)
        AuditEvent.objects.bulk_create(rows, batch_size=500)
        AuditChainHead.objects.update_or_create(pk=1, defaults={"last_hash": prev})

    def peak() -> int:
        tracemalloc.start()
        report = audit_chain.verify()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert report.intact
        return top

    monkeypatch.setattr(audit_chain, "CHUNK", 200)  # smaller round trips, same walk: keeps the test quick
    fill(3 * audit_chain.CHUNK)
    three = peak()
    fill(6 * audit_chain.CHUNK)
    nine = peak()
    assert nine < three * 1.2, (three, nine)


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_key_file_readable_by_others_is_warned_about(chain, settings, caplog):
    export()
    Path(settings.AUDIT_CHECKPOINT_KEY_FILE).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="accounts.audit_chain"):
        assert audit_chain.audit_status().intact
    assert "is readable by others: chmod 600 it" in caplog.text
