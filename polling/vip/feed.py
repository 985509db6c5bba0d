"""Reading a VIP feed: the files (a zip's members or a folder's, never outside it), the XML parsed without DTDs or
entity expansion (defusedxml) after refusing a BOM and characters XML forbids, the elements by id (each id once),
and the shapefiles of its ExternalFiles, checksum verified. Problems are collected, named by element id and field."""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree.ElementTree import Element  # nosec B405 - the type only; parsing is defusedxml's

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from polling.geography.importer import rows, vector

MAX_FEED_BYTES = 512 * 1024 * 1024
#: Characters XML 1.0 does not allow anywhere in a document.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


class Bundle:
    """The feed's XML and the files beside it: a zip's members, or a folder's files (never outside it)."""

    def __init__(self, path: Path, errors: rows.Collector) -> None:
        self.errors = errors
        self.members: dict[str, zipfile.ZipInfo] = {}
        self.archive: zipfile.ZipFile | None = None
        self.folder: Path | None = None
        self.xml_name = path.name
        self.xml: bytes | None = None
        if path.is_dir():
            self.folder = path
            xmls = sorted(p.name for p in path.iterdir() if p.suffix.lower() == ".xml")
            if len(xmls) != 1:
                errors.add(path.name, None, "file", f"the folder must hold exactly one .xml feed (found {len(xmls)})")
                return
            self.xml_name = xmls[0]
            self.xml = self.read(xmls[0])
        elif path.suffix.lower() == ".zip":
            try:
                self.archive = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                errors.add(path.name, None, "file", f"is not a readable zip archive: {exc}")
                return
            infos = self.archive.infolist()
            if sum(i.file_size for i in infos) > MAX_FEED_BYTES:
                errors.add(path.name, None, "file", f"unpacks to more than {MAX_FEED_BYTES} bytes")
                return
            self.members = {i.filename: i for i in infos if not i.is_dir()}
            found = [n for n in self.members if n.lower().endswith(".xml") and "/" not in n]
            if len(found) != 1:
                errors.add(
                    path.name, None, "file", f"the zip must hold exactly one .xml feed at its top (found {len(found)})"
                )
                return
            self.xml_name = found[0]
            self.xml = self.read(found[0])
        elif path.is_file():
            self.folder = path.parent
            self.xml = self.read(path.name)
        else:
            errors.add(path.name, None, "file", "does not exist")

    def names(self) -> list[str]:
        if self.archive is not None:
            return list(self.members)
        return [p.name for p in self.folder.iterdir() if p.is_file()] if self.folder is not None else []

    def read(self, name: str) -> bytes | None:
        """The bytes of the file ``name`` (relative, inside the feed), or None when there is no such file."""
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or "\\" in name:
            return None
        if self.archive is not None:
            info = self.members.get(name)
            return None if info is None else self.archive.read(info)
        if self.folder is None:
            return None
        target = self.folder / pure
        if not target.is_file() or target.stat().st_size > MAX_FEED_BYTES:
            return None
        return target.read_bytes()


def parse_xml(data: bytes, label: str, errors: rows.Collector) -> Element | None:
    if data.startswith(_BOMS):
        errors.add(label, None, "file", "starts with a byte-order mark (BOM); save it as UTF-8 without one")
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        errors.add(label, None, "file", f"is not UTF-8 text (byte {exc.start})")
        return None
    bad = _INVALID_XML.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        errors.add(
            label,
            None,
            "file",
            f"holds the character U+{ord(bad.group()):04X}, not allowed in XML (line {line}, column {column})",
        )
        return None
    try:
        root: Element = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        errors.add(label, None, "file", f"is refused: {type(exc).__name__} (no DTDs or entities in a feed)")
        return None
    except ParseError as exc:
        errors.add(label, None, "file", f"is not well-formed XML: {exc}")
        return None
    if root.tag != "VipObject":
        errors.add(label, None, "file", f"the root element is <{root.tag}>, not <VipObject>")
        return None
    version = root.get("schemaVersion", "")
    if not version.startswith("6."):
        errors.add(label, None, "schemaVersion", f"{version!r}: only VIP 6.x feeds are read")
        return None
    return root


def child(element: Element, path: str) -> str | None:
    found = element.find(path)
    if found is None or found.text is None or not found.text.strip():
        return None
    return found.text.strip()


def identifiers(element: Element, kind: str) -> list[str]:
    return [
        (node.findtext("Value") or "").strip()
        for node in element.findall("ExternalIdentifiers/ExternalIdentifier")
        if (node.findtext("Type") or "").strip() == kind
    ]


def intl(element: Element, tag: str) -> str | None:
    texts = element.findall(f"{tag}/Text")
    chosen = next((t for t in texts if t.get("language") == "en"), texts[0] if texts else None)
    return None if chosen is None or not (chosen.text or "").strip() else (chosen.text or "").strip()


@dataclass
class Feed:
    """The elements of a feed by kind and id, and where problems are reported."""

    label: str
    errors: rows.Collector
    by_id: dict[str, Element] = field(default_factory=dict)
    kinds: dict[str, list[Element]] = field(default_factory=dict)

    def add(self, element: Element, field_name: str, message: str) -> None:
        self.errors.add(f"{self.label}: {element.tag} '{element.get('id', '?')}'", None, field_name, message)

    def of(self, kind: str) -> list[Element]:
        return self.kinds.get(kind, [])

    def ref(self, element: Element, field_name: str, vip_id: str, kind: str) -> Element | None:
        target = self.by_id.get(vip_id)
        if target is None or target.tag != kind:
            what = "nothing" if target is None else f"a {target.tag}"
            self.add(element, field_name, f"refers to {vip_id!r}, which is {what}; a {kind} was expected")
            return None
        return target


def index_feed(root: Element, label: str, errors: rows.Collector) -> Feed:
    feed = Feed(label, errors)
    for element in root:
        feed.kinds.setdefault(str(element.tag), []).append(element)
        vip_id = element.get("id")
        if vip_id is None:
            errors.add(f"{label}: {element.tag}", None, "id", "is required")
            continue
        if vip_id in feed.by_id:
            feed.add(
                element, "id", f"{vip_id!r} is used twice (also by a {feed.by_id[vip_id].tag}); ids must be unique"
            )
            continue
        feed.by_id[vip_id] = element
    return feed


class Shapes:
    """The features of each ExternalFile, read once, checksum verified."""

    def __init__(self, feed: Feed, bundle: Bundle, tmp: Path) -> None:
        self.feed, self.bundle, self.tmp = feed, bundle, tmp
        self.cache: dict[str, list[Any] | None] = {}
        self.notes: list[str] = []

    def features(self, element: Element) -> list[Any] | None:
        vip_id = element.get("id", "")
        if vip_id not in self.cache:
            self.cache[vip_id] = self._load(element)
        return self.cache[vip_id]

    def _load(self, element: Element) -> list[Any] | None:
        uri = child(element, "FileUri") or ""
        data = self.bundle.read(uri)
        if data is None:
            self.feed.add(element, "FileUri", f"{uri!r} is not in the feed")
            return None
        algorithm = (child(element, "Checksum/Algorithm") or "").lower()
        expected = (child(element, "Checksum/Value") or "").lower()
        if algorithm not in ("sha-256", "sha-512"):
            self.feed.add(element, "Checksum.Algorithm", f"{algorithm!r}: sha-256 or sha-512 expected")
            return None
        actual = hashlib.new(algorithm.replace("-", ""), data).hexdigest()
        if actual != expected:
            self.feed.add(
                element,
                "Checksum.Value",
                f"{uri!r} has {algorithm} {actual}, not the {expected or 'empty value'} the feed states",
            )
            return None
        target = self.tmp / element.get("id", "file")
        target.mkdir()
        name = PurePosixPath(uri).name
        if name.lower().endswith(".shp"):
            # A bare shapefile needs its sidecars (.shx, .dbf, .prj, .cpg) from beside it.
            stem = str(PurePosixPath(uri).with_suffix(""))
            for other in self.bundle.names():
                if other.startswith(stem + ".") and other != uri:
                    (target / PurePosixPath(other).name).write_bytes(self.bundle.read(other) or b"")
        elif not name.lower().endswith(".zip"):
            self.feed.add(element, "FileUri", f"{uri!r}: a shapefile (.shp) or a zipped shapefile (.zip) expected")
            return None
        (target / name).write_bytes(data)
        label = f"{self.feed.label}: ExternalFile '{element.get('id')}' ({uri})"
        return vector.read_vector(target / name, label, self.feed.errors, vector.VectorOptions(), (), self.notes)
