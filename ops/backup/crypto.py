"""The archive's envelope: AES-256-GCM in authenticated chunks under a key that never lives beside the archive.

Layout of a ``.pgbk`` file::

    MAGIC (8 bytes) | header length (u32, big-endian) | header (JSON, plain) | chunk* (the last one flagged final)
    chunk = final flag (1 byte) | ciphertext length (u32) | AES-256-GCM ciphertext + 16-byte tag

The header says who can read the archive (``key_id``: a hash of the master key, so a wrong key is named as such
before any decryption is tried), the salt from which this archive's own key is derived (HKDF-SHA256: every archive
has a fresh key, so the chunk index alone is a safe nonce) and when it was made. Every chunk's associated data binds
the header's hash, the chunk's index and its final flag: an edited header, a swapped, dropped, repeated or edited
chunk fails authentication; an archive that ends before a final chunk is *truncated*; bytes after it are refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
import struct
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ops.backup.errors import BackupError

MAGIC = b"PGBKUP01"
FORMAT = 1
#: Plaintext bytes per chunk: memory stays bounded whatever the database's size.
CHUNK_SIZE = 1 << 20
_FRAME = struct.Struct(">BI")
_MAX_HEADER = 64 * 1024
_INFO = b"pollguard backup v1"


def load_key(environ: Any = None) -> bytes:
    """The master key: ``BACKUP_KEY`` (base64 of 32 random bytes) or the file named by ``BACKUP_KEY_FILE``. Read
    from the environment at the moment of use, never from settings and never stored with the archives."""
    env = os.environ if environ is None else environ
    raw = env.get("BACKUP_KEY", "")
    path = env.get("BACKUP_KEY_FILE", "")
    if raw and path:
        raise BackupError("no_key", "Set one of BACKUP_KEY and BACKUP_KEY_FILE, not both.")
    if path:
        try:
            raw = Path(path).read_text().strip()
        except OSError as exc:
            raise BackupError("no_key", f"BACKUP_KEY_FILE cannot be read: {exc.strerror}.") from None
    if not raw:
        raise BackupError(
            "no_key", "No backup key: set BACKUP_KEY to base64 of 32 random bytes (or BACKUP_KEY_FILE to a file)."
        )
    try:
        key = base64.b64decode(raw.strip(), altchars=b"-_" if ("-" in raw or "_" in raw) else None, validate=True)
    except (binascii.Error, ValueError):
        raise BackupError("no_key", "The backup key is not valid base64.") from None
    if len(key) != 32:
        raise BackupError("no_key", f"The backup key must be 32 bytes (256 bits); this one is {len(key)}.")
    return key


def key_file_path(environ: Any = None) -> Path | None:
    env = os.environ if environ is None else environ
    return Path(env["BACKUP_KEY_FILE"]).resolve() if env.get("BACKUP_KEY_FILE") else None


def new_key() -> str:
    """A fresh master key, base64: what to put in BACKUP_KEY (and in the offline key escrow)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def key_id(key: bytes) -> str:
    """Names the key without revealing it (a hash of 256 random bits)."""
    return hashlib.sha256(b"pollguard-backup-key-id\0" + key).hexdigest()[:16]


def _archive_key(master: bytes, salt: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(master))


def _nonce(index: int) -> bytes:
    return b"\0\0\0\0" + index.to_bytes(8, "big")


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + index.to_bytes(8, "big") + (b"\1" if final else b"\0")


class EncryptingWriter:
    """A write-only file object: what is written is encrypted chunk by chunk into ``out``; ``finish()`` writes the
    final chunk (call it exactly once, after the last write)."""

    def __init__(self, out: IO[bytes], key: bytes, header: dict[str, Any]) -> None:
        salt = secrets.token_bytes(16)
        self.header = {
            **header,
            "format": FORMAT,
            "cipher": "AES-256-GCM",
            "kdf": "HKDF-SHA256",
            "salt": base64.b64encode(salt).decode(),
            "key_id": key_id(key),
            "chunk_size": CHUNK_SIZE,
        }
        header_bytes = json.dumps(self.header, sort_keys=True, separators=(",", ":")).encode()
        self._digest = hashlib.sha256(header_bytes).digest()
        self._aead = _archive_key(key, salt)
        self._out = out
        self._buffer = bytearray()
        self._index = 0
        self.bytes_in = 0
        out.write(MAGIC + struct.pack(">I", len(header_bytes)) + header_bytes)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._buffer += data
        self.bytes_in += len(data)
        while len(self._buffer) > CHUNK_SIZE:
            self._emit(bytes(self._buffer[:CHUNK_SIZE]), final=False)
            del self._buffer[:CHUNK_SIZE]
        return len(data)

    def flush(self) -> None:
        """Nothing to do: a partial chunk waits for more data (tarfile calls this)."""

    def _emit(self, plain: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index), plain, _aad(self._digest, self._index, final))
        self._out.write(_FRAME.pack(1 if final else 0, len(sealed)) + sealed)
        self._index += 1

    def finish(self) -> None:
        self._emit(bytes(self._buffer), final=True)
        self._buffer.clear()


def read_header(stream: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    """The plain header of an archive (and its raw bytes), refusing what is not one of ours."""
    start = stream.read(len(MAGIC) + 4)
    if len(start) < len(MAGIC) + 4 or start[: len(MAGIC)] != MAGIC:
        raise BackupError("not_an_archive", "Not a pollguard backup archive (bad magic bytes).")
    (length,) = struct.unpack(">I", start[len(MAGIC) :])
    if length > _MAX_HEADER:
        raise BackupError("corrupt", "The archive's header is corrupt (impossible length).")
    raw = stream.read(length)
    if len(raw) < length:
        raise BackupError("truncated", "The archive is truncated (it ends inside its header).")
    try:
        header = json.loads(raw)
    except ValueError:
        raise BackupError("corrupt", "The archive's header is corrupt (not JSON).") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError("corrupt", "The archive's header is corrupt or of an unknown format.")
    return header, raw


class DecryptingReader:
    """A read-only file object over an archive's plaintext. Every chunk is authenticated before any of its bytes are
    handed out; reaching the end without a final chunk raises ``truncated``."""

    def __init__(self, stream: IO[bytes], key: bytes) -> None:
        self.header, raw = read_header(stream)
        if self.header.get("key_id") != key_id(key):
            raise BackupError(
                "wrong_key",
                f"Wrong backup key: the archive was made with key {self.header.get('key_id')!s}, "
                f"the key given is {key_id(key)}.",
            )
        try:
            salt = base64.b64decode(self.header["salt"], validate=True)
        except (KeyError, TypeError, binascii.Error, ValueError):
            raise BackupError("corrupt", "The archive's header is corrupt (salt).") from None
        self._digest = hashlib.sha256(raw).digest()
        self._aead = _archive_key(key, salt)
        self._stream = stream
        self._buffer = b""
        self._index = 0
        self._done = False
        self._limit = int(self.header.get("chunk_size", CHUNK_SIZE)) + 16

    def _next_chunk(self) -> None:
        frame = self._stream.read(_FRAME.size)
        if len(frame) < _FRAME.size:
            raise BackupError("truncated", f"The archive is truncated: it ends before its final chunk ({self._index}).")
        flag, length = _FRAME.unpack(frame)
        if flag not in (0, 1) or length > self._limit:
            raise BackupError("tampered", f"The archive is corrupt or tampered with (chunk {self._index}'s frame).")
        sealed = self._stream.read(length)
        if len(sealed) < length:
            raise BackupError("truncated", f"The archive is truncated: it ends inside chunk {self._index}.")
        final = flag == 1
        try:
            plain = self._aead.decrypt(_nonce(self._index), sealed, _aad(self._digest, self._index, final))
        except InvalidTag:
            raise BackupError(
                "tampered", f"The archive is corrupt or tampered with: chunk {self._index} fails authentication."
            ) from None
        self._index += 1
        self._buffer += plain
        if final:
            self._done = True
            if self._stream.read(1):
                raise BackupError("tampered", "The archive has data after its final chunk (tampered with).")

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._buffer) < size):
            self._next_chunk()
        if size < 0:
            size = len(self._buffer)
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def drain(self) -> None:
        """Read (and authenticate) up to the final chunk, whatever the reader above has left unread."""
        while not self._done:
            self._next_chunk()
            self._buffer = b""
        self._buffer = b""
