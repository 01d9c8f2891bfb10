"""Zip bundles: one zip whose members become a version's files, and a version as one zip.

Upload (:meth:`Bundles.upload`) takes the archive as a seekable file (the transport spools the
request body into a :class:`Spool` first: a zip's table of contents is at its end) and works in
three passes, so that a refused archive leaves nothing behind:

1. **Headers**: every member of the central directory is checked before a byte is inflated:
   its name (no absolute paths, drive letters, backslashes, ``..`` or ``.`` parts: the same
   rules as any file path), its type (regular files only; symlinks and other special files are
   refused, directories skipped), no encryption, a supported compression method, no duplicate
   names, and the limits: member count, total uncompressed size, compression ratio.
2. **Inflate**: every member is decompressed and its bytes counted as they come, against the
   size its header declares and the total limit (a header can lie); its CRC is checked.
3. **Store**: each member streams through :meth:`RegistryService.begin_upload` (hashed on the
   way, durable, content-addressed), and all of them are recorded in ONE
   :meth:`RegistryService.store_files` call at the end, so a failure mid-way leaves no file
   rows (blobs written before it are unreferenced, for garbage collection).

Every refusal is :class:`InvalidArgument` naming the member as ``members[i]`` in its field.

Download (:meth:`Bundles.download`) yields the zip as it is written: stored files become
uncompressed (``ZIP_STORED``) members with ZIP64 data descriptors, streamed from the blob store,
followed by :data:`MANIFEST`, which lists every file of the version (path, size, sha256,
storage, and ``in_bundle``: whether its bytes are a member). Tracked files are listed only.
"""

from __future__ import annotations

import json
import lzma
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from modelyard.domain.entities import FileEntry, ModelVersion, User
from modelyard.domain.enums import FileStorage
from modelyard.domain.gesund import ArtifactProps
from modelyard.domain.ids import FilePath
from modelyard.domain.runtime import RuntimeSpec
from modelyard.domain.service import FileTarget, RegistryService
from modelyard.errors import IntegrityError, InvalidArgument

GiB = 1024**3
#: The member a downloaded bundle describes itself in; an uploaded one is skipped.
MANIFEST = "modelyard-manifest.json"
#: Bytes read from a member at a time.
CHUNK = 1024 * 1024
#: Members up to this size are never refused for their compression ratio: too small to bomb.
RATIO_FLOOR = 1024 * 1024

_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
#: What a damaged member raises while it is inflated.
_CORRUPT = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError)


@dataclass(frozen=True, kw_only=True)
class BundleLimits:
    """What an uploaded zip may hold. ``max_total_size`` is the ``bundle_max_size`` setting."""

    max_members: int = 10_000
    max_total_size: int = 64 * GiB
    max_ratio: int = 100
    #: Where request bodies are spooled (None: the system's temp directory).
    spool_dir: Path | None = None

    @property
    def max_archive_size(self) -> int:
        """The largest zip accepted: the content limit plus room for zip's own overhead."""
        return self.max_total_size + self.max_total_size // 64 + 64 * 1024 * 1024


class Spool:
    """A request body on its way to disk: an anonymous temporary file (unlinked on creation,
    so nothing is left behind even if the server dies), refused past ``max_archive_size``."""

    def __init__(self, limits: BundleLimits, declared_size: int | None = None) -> None:
        self._limit = limits.max_archive_size
        self.size = 0
        if declared_size is not None and declared_size > self._limit:
            raise self._too_large()
        # Closed by close(); a context manager cannot span the request's async reads.
        self.file: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115
            dir=limits.spool_dir, prefix="bundle-"
        )

    def _too_large(self) -> InvalidArgument:
        return InvalidArgument(
            f"body: the zip is larger than {self._limit} bytes "
            "(the bundle_max_size setting plus room for zip overhead); nothing was stored",
            field="body",
        )

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._limit:
            raise self._too_large()
        self.file.write(data)

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True, kw_only=True)
class _Member:
    index: int
    info: zipfile.ZipInfo
    path: FilePath

    @property
    def field(self) -> str:
        return f"members[{self.index}]"

    def refuse(self, why: str) -> InvalidArgument:
        return _refuse(self.index, self.info.filename, why)


def _refuse(index: int, name: str, why: str) -> InvalidArgument:
    field = f"members[{index}]"
    return InvalidArgument(f"{field} ({name!r}): {why}; nothing was stored", field=field)


@dataclass(frozen=True, kw_only=True)
class BundleDownload:
    """A version as a zip: its file name and its bytes, produced as they are read."""

    filename: str
    chunks: Iterator[bytes]


class Bundles:
    """The bundle use cases, on top of the service's file rules and permissions."""

    def __init__(self, service: RegistryService, limits: BundleLimits) -> None:
        self.service = service
        self.limits = limits

    def spool(self, declared_size: int | None = None) -> Spool:
        """A place for an upload's body; refuses a declared size over the limit at once."""
        return Spool(self.limits, declared_size)

    # -- upload ------------------------------------------------------------------------------

    def upload(
        self,
        actor: User,
        namespace: str,
        model_name: str,
        ref: str,
        archive: BinaryIO | IO[bytes],
        *,
        locate_model_file: bool = False,
        props: ArtifactProps | None = None,
    ) -> list[FileEntry]:
        """Store every file member of the zip ``archive`` as a file of a PENDING version (a
        path already there is replaced); all or nothing. With ``locate_model_file``, a
        text-embedding runtime that names no model file gets the zip's one model member, and
        the tokenizer beside it (OpenSearch ML Commons' zips: a ``.pt`` or ``.onnx`` file and
        ``tokenizer.json``, at the top or in a folder); the zip is refused without one. With
        Gesund's artifact ``props`` (:mod:`modelyard.domain.gesund`), the version gets their
        task, framework and the gesund runtime, its model file the zip's model member; a zip
        that disagrees with them is refused before anything is stored."""
        target = self.service.file_target(actor, namespace, model_name, ref, write=True)
        try:
            zf = zipfile.ZipFile(archive)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
            raise InvalidArgument(
                f"body: expected a zip archive ({exc}); nothing was stored", field="body"
            ) from None
        with zf:
            members = self._check_headers(zf)
            runtime = None
            if locate_model_file and target.version is not None:
                runtime = _located(target.version.runtime, [m.path for m in members])
            described = None
            if props is not None and target.version is not None:
                model_file = props.model_file([m.path for m in members])
                described = props.version_changes(target.version.runtime, model_file)
            for member in members:
                self._inflate(zf, member, None)
            entries = self._store(zf, target, members)
        if runtime is not None:
            self.service.update_version(actor, namespace, model_name, ref, {"runtime": runtime})
        if described is not None:
            self.service.update_version(actor, namespace, model_name, ref, described)
        return entries

    def _check_headers(self, zf: zipfile.ZipFile) -> list[_Member]:
        infos = zf.infolist()
        if len(infos) > self.limits.max_members:
            over = self.limits.max_members
            raise _refuse(
                over,
                infos[over].filename,
                f"too many members: at most {self.limits.max_members} are allowed, "
                f"the zip has {len(infos)}",
            )
        members: list[_Member] = []
        seen: set[str] = set()
        total = 0
        for i, info in enumerate(infos):
            path = _member_path(i, info)
            if info.is_dir():
                continue
            if path in seen:
                raise _refuse(i, info.filename, "the same name appears twice")
            seen.add(path)
            member = _Member(index=i, info=info, path=path)
            _check_member(member, self.limits.max_ratio)
            total += info.file_size
            if total > self.limits.max_total_size:
                raise member.refuse(
                    f"the members so far inflate to {total} bytes, over the "
                    f"{self.limits.max_total_size} bytes a bundle may hold (bundle_max_size)"
                )
            if path != MANIFEST:
                members.append(member)
        return members

    def _inflate(
        self, zf: zipfile.ZipFile, member: _Member, sink: Callable[[bytes], None] | None
    ) -> None:
        """Decompress one member into ``sink`` (or nowhere: a check), counting bytes as they
        come; more than its header declares is refused however zipfile would handle it."""
        declared = member.info.file_size
        count = 0
        for chunk in _chunks(zf, member):
            count += len(chunk)
            if count > declared:
                raise member.refuse(
                    f"inflates to more than the {declared} bytes its header declares"
                )
            if sink is not None:
                sink(chunk)  # its errors (a full disk) are the server's, not the zip's
        if count != declared:
            raise member.refuse(f"inflates to {count} bytes, its header declares {declared}")

    def _store(
        self, zf: zipfile.ZipFile, target: FileTarget, members: list[_Member]
    ) -> list[FileEntry]:
        entries: list[FileEntry] = []
        for member in members:
            upload = self.service.begin_upload(target, member.path, size=member.info.file_size)
            try:
                self._inflate(zf, member, upload.write)
                entries.append(upload.commit())
            except BaseException:
                upload.abort()
                raise
        self.service.store_files(target, entries)
        return entries

    # -- download ----------------------------------------------------------------------------

    def download(
        self, actor: User, namespace: str, model_name: str, ref: str, *, manifest: bool = True
    ) -> BundleDownload:
        """The version's stored files and a manifest (unless ``manifest`` is false: a client
        that checks the zip against a manifest of its own, as ADS does) as a zip, written while
        it is read."""
        version = self.service.get_version(actor, namespace, model_name, ref)
        entries = self.service.list_files(actor, namespace, model_name, version.label)
        name = f"{version.model}-{version.label}.zip"
        return BundleDownload(filename=name, chunks=self._zip(version, entries, manifest))

    def _zip(
        self, version: ModelVersion, entries: list[FileEntry], with_manifest: bool = True
    ) -> Iterator[bytes]:
        packed = [
            e
            for e in entries
            if e.storage == FileStorage.STORED and e.sha256 is not None and e.path != MANIFEST
        ]
        manifest = _manifest(version, entries, {e.path for e in packed})
        out = _Out()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:  # type: ignore[call-overload]
            for entry in packed:
                info = _zip_info(entry.path, entry)
                info.file_size = entry.size or 0  # decides ZIP64 up front
                sent = 0
                with zf.open(info, "w") as member:
                    for chunk in self.service.read_file(entry):
                        member.write(chunk)
                        sent += len(chunk)
                        yield from out.drain()
                if sent != entry.size:  # the reader sees a truncated zip, not a wrong one
                    raise IntegrityError(
                        f"file {entry.path}: the blob store holds {sent} bytes, "
                        f"expected {entry.size}"
                    )
            if with_manifest:
                zf.writestr(_zip_info(MANIFEST, None), manifest)
        yield from out.drain()


class _Out:
    """A write-only, non-seekable stream: zipfile then writes data descriptors and never
    seeks back, so the zip can be sent while it is written."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def drain(self) -> Iterator[bytes]:
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks.clear()
            yield data


def _located(spec: RuntimeSpec | None, paths: list[str]) -> RuntimeSpec | None:
    """``spec`` with the model file and tokenizer found among a zip's member ``paths`` (None:
    nothing to fill in); InvalidArgument when there is not exactly one model member."""
    if spec is None or spec.text_embedding is None or spec.model_file is not None:
        return None
    suffix = {"TORCH_SCRIPT": ".pt", "ONNX": ".onnx"}[spec.text_embedding.model_format]
    found = [p for p in paths if p.lower().endswith(suffix)]
    if len(found) != 1:
        raise InvalidArgument(
            f"body: expected one {suffix} model file in the zip, found "
            f"{len(found)} ({', '.join(found[:5]) or 'none'}); nothing was stored",
            field="body",
        )
    folder = PurePosixPath(found[0]).parent
    tokenizer = spec.text_embedding.tokenizer_file
    beside = (folder / tokenizer).as_posix() if folder != PurePosixPath(".") else tokenizer
    if beside not in paths:
        raise InvalidArgument(
            f"body: expected {beside} beside the model file {found[0]} in the zip; nothing "
            "was stored",
            field="body",
        )
    settings = spec.text_embedding.model_copy(update={"tokenizer_file": beside})
    return spec.model_copy(update={"model_file": found[0], "text_embedding": settings})


def _chunks(zf: zipfile.ZipFile, member: _Member) -> Iterator[bytes]:
    """A member's inflated bytes; a damaged member (bad data, CRC) is refused as such."""
    try:
        with zf.open(member.info) as f:
            while chunk := f.read(CHUNK):
                yield chunk
    except _CORRUPT as exc:
        raise member.refuse(f"damaged or not what its header says ({exc})") from None


def _member_path(index: int, info: zipfile.ZipInfo) -> FilePath:
    name = info.filename
    if info.is_dir():
        name = name.rstrip("/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise _refuse(index, info.filename, "absolute paths are not allowed")
    if "\\" in name:
        raise _refuse(index, info.filename, "backslashes are not allowed in member names")
    try:
        return FilePath.parse(name, f"members[{index}]")
    except InvalidArgument as exc:
        raise _refuse(index, info.filename, exc.message.split(": ", 1)[1]) from None


def _check_member(member: _Member, max_ratio: int) -> None:
    info = member.info
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise member.refuse("symbolic links are not allowed")
    if kind not in (0, stat.S_IFREG):
        raise member.refuse("only regular files are allowed (this is a special file)")
    if info.flag_bits & 0x1:
        raise member.refuse("encrypted members are not supported")
    if info.compress_type not in _METHODS:
        raise member.refuse(
            f"compression method {info.compress_type} is not supported; "
            f"expected one of {sorted(_METHODS.values())}"
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise member.refuse(
            f"stored uncompressed, yet its header declares {info.file_size} bytes "
            f"and {info.compress_size} on disk"
        )
    if info.file_size > RATIO_FLOOR and info.file_size > max_ratio * info.compress_size:
        ratio = info.file_size / max(info.compress_size, 1)
        raise member.refuse(
            f"compression ratio {ratio:.0f}:1 is over the {max_ratio}:1 allowed "
            f"({info.compress_size} bytes inflate to {info.file_size}); a zip bomb?"
        )


def _zip_info(name: str, entry: FileEntry | None) -> zipfile.ZipInfo:
    when = entry.created_at if entry is not None else None
    date_time = when.timetuple()[:6] if when is not None and when.year >= 1980 else None
    info = zipfile.ZipInfo(name, date_time) if date_time else zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.create_system = 3  # Unix: the mode above means what it says
    return info


def _manifest(version: ModelVersion, entries: list[FileEntry], packed: set[str]) -> bytes:
    body = {
        "model": f"{version.namespace}/{version.model}",
        "version": version.label,
        "number": version.number,
        "files": [
            {
                "path": e.path,
                "size": e.size,
                "sha256": e.sha256,
                "storage": str(e.storage),
                "uri": e.uri,
                "in_bundle": e.path in packed,
            }
            for e in entries
        ],
    }
    return json.dumps(body, indent=2, sort_keys=True).encode()
