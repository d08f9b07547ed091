"""The hsrnet model file format (same bytes as include/hsrnet/io/tensor_file.hpp; see that header for the layout).

A versioned container of named tensors with a size field and a CRC-32, written atomically.
"""

from __future__ import annotations

import os
import stat
import struct
import tempfile
import zlib
from collections.abc import Mapping

import numpy as np

MAGIC = b"HSRNETMF"
VERSION = 1
_HEADER = 24
_ENTRY = 128
_DTYPES = {1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("<i8"), 5: np.dtype("u1")}
_CODES = {v: k for k, v in _DTYPES.items()}


class ModelFileError(ValueError):
    """A model file that cannot be read: foreign, truncated, corrupted or from a newer hsrnet."""


def _code(arr: np.ndarray) -> int:
    dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder not in ("|",) else arr.dtype
    if dt not in _CODES:
        raise TypeError(f"cannot store dtype {arr.dtype} (float32, float64, int32, int64, uint8 only)")
    return _CODES[dt]


def encode(tensors: Mapping[str, np.ndarray]) -> bytes:
    items = [
        (name, np.require(np.asarray(a), requirements="C")) for name, a in tensors.items()
    ]  # keeps 0-d scalars 0-d
    pos = (_HEADER + len(items) * _ENTRY + 63) // 64 * 64
    table, blobs = [], []
    for name, a in items:
        raw = name.encode("utf-8")
        if not 1 <= len(raw) <= 63:
            raise ValueError(f"tensor name must have 1..63 bytes: {name!r}")
        if a.ndim > 4:
            raise ValueError(f"tensor {name!r} has more than 4 dimensions")
        code = _code(a)
        data = a.astype(_DTYPES[code], copy=False).tobytes()
        shape = list(a.shape) + [0] * (4 - a.ndim)
        table.append(struct.pack("<64sII4QQQ", raw, code, a.ndim, *shape, pos, len(data)))
        blobs.append((pos, data))
        pos = (pos + len(data) + 63) // 64 * 64
    total = pos + 4
    buf = bytearray(total)
    struct.pack_into("<8sIIQ", buf, 0, MAGIC, VERSION, len(items), total)
    for i, entry in enumerate(table):
        buf[_HEADER + i * _ENTRY : _HEADER + i * _ENTRY + len(entry)] = entry
    for off, data in blobs:
        buf[off : off + len(data)] = data
    struct.pack_into("<I", buf, total - 4, zlib.crc32(bytes(buf[: total - 4])) & 0xFFFFFFFF)
    return bytes(buf)


def decode(data: bytes, what: str = "file") -> dict[str, np.ndarray]:
    def fail(why):
        raise ModelFileError(f"cannot read {what}: {why}")

    if len(data) < _HEADER + 4 or data[:8] != MAGIC:
        fail("not an hsrnet model file (bad magic)")
    _, version, count, total = struct.unpack_from("<8sIIQ", data, 0)
    if version > VERSION:
        fail(f"format version {version} is newer than this hsrnet reads ({VERSION}); upgrade hsrnet")
    if version == 0:
        fail("format version 0 is invalid")
    if total != len(data):
        fail(f"size is {len(data)} bytes, the header says {total} (truncated or padded)")
    (crc,) = struct.unpack_from("<I", data, total - 4)
    if crc != zlib.crc32(data[: total - 4]) & 0xFFFFFFFF:
        fail("checksum mismatch (the file is corrupted)")
    if _HEADER + count * _ENTRY > total - 4:
        fail("tensor table exceeds the file")
    out = {}
    for i in range(count):
        raw, code, ndim, s0, s1, s2, s3, off, nbytes = struct.unpack_from("<64sII4QQQ", data, _HEADER + i * _ENTRY)
        name = raw.rstrip(b"\0").decode("utf-8", errors="replace")
        if code not in _DTYPES:
            fail(f"tensor {name!r} has unknown dtype code {code}")
        if ndim > 4:
            fail(f"tensor {name!r} has {ndim} dimensions")
        shape = (s0, s1, s2, s3)[:ndim]
        if any(s > total for s in shape) or any(s != 0 for s in (s0, s1, s2, s3)[ndim:]):
            fail(f"tensor {name!r} has an impossible shape {(s0, s1, s2, s3)[: max(ndim, 1)]}")
        if nbytes != int(np.prod(shape, dtype=object)) * _DTYPES[code].itemsize:
            fail(f"tensor {name!r} byte count does not match its shape")
        if off + nbytes > total - 4:
            fail(f"tensor {name!r} lies outside the file")
        if name in out:
            fail(f"tensor {name!r} appears twice")
        out[name] = (
            np.frombuffer(data, dtype=_DTYPES[code], count=nbytes // _DTYPES[code].itemsize, offset=off)
            .reshape(shape)
            .copy()
        )
    return out


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISFIFO, "named pipe"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def resolve_target(path):
    """(the real path a save to `path` writes, os.stat of the file there or None when there is none yet).

    Symbolic links are followed (the link stays a link; the file it points to is replaced); anything but a
    regular file at the end (a directory, a device such as /dev/full, a pipe) raises OSError.
    """
    real = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        return real, None
    if not stat.S_ISREG(st.st_mode):
        raise OSError(
            f"{os.fspath(path)} is a {_kind(st.st_mode)}, not a regular file; hsrnet writes model files "
            "to regular files only"
        )
    return real, st


def save(path, tensors: Mapping[str, np.ndarray]) -> None:
    """Writes atomically: a temporary file beside the target, flushed and fsynced, then renamed over it.

    A symbolic link is written through (its target is replaced, the link kept); an existing file keeps its
    permission bits (and, for root, its owner); a new file gets 0666 less the umask. Non-regular targets
    (directories, devices, pipes) raise OSError before anything is written.
    """
    data = encode(tensors)
    real, existing = resolve_target(path)
    directory = os.path.dirname(real)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(real) + ".tmp-", dir=directory)
    try:
        if existing is not None:
            os.chmod(tmp, stat.S_IMODE(existing.st_mode))
            if os.geteuid() == 0 and (existing.st_uid, existing.st_gid) != (0, 0):
                try:
                    os.chown(tmp, existing.st_uid, existing.st_gid)
                except OSError:
                    pass
        else:
            # mkstemp creates 0600; give the file the permissions a plain open() would (0666 less the umask).
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read(path) -> bytes:
    """The bytes of the model file at `path` (a regular file; devices, pipes and folders are refused)."""
    path = os.fspath(path)
    st = os.stat(path)  # FileNotFoundError for a missing path
    if stat.S_ISDIR(st.st_mode):
        raise ModelFileError(f"cannot read {path}: it is a directory")
    if not stat.S_ISREG(st.st_mode):  # /dev/zero would be read forever, a pipe block on open
        raise ModelFileError(f"cannot read {path}: it is a {_kind(st.st_mode)}, not a model file")
    try:
        with open(path, "rb") as f:
            return f.read(st.st_size + 1)  # one byte more: a file that grew is "padded", not half read
    except IsADirectoryError:
        raise ModelFileError(f"cannot read {path}: it is a directory") from None


def format_version(data: bytes) -> int:
    """The format version in the header of `data` (which decode has accepted)."""
    return struct.unpack_from("<8sI", data, 0)[1]


def load(path) -> dict[str, np.ndarray]:
    return decode(read(path), os.fspath(path))
