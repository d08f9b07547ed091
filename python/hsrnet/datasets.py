"""Readers for the file formats hsrnet meets: IDX (MNIST, optionally gzipped), CSV, .npy/.npz, and the
three reference data sets of the project (MNIST, California housing, Letter) from a local folder.

Nothing is downloaded: data sets are read from a folder given by the caller or by HSRNET_DATA.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(ValueError):
    """A data file that cannot be read as asked (missing, malformed, wrong column...)."""


def _open(path: Path):
    with open(path, "rb") as f:
        head = f.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")


def read_idx(path) -> np.ndarray:
    """An IDX file (the MNIST format), gzipped or not, as a numpy array of its own shape."""
    path = Path(path)
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    count = int(np.prod(shape, dtype=np.int64))
    body = data[4 + 4 * ndim :]
    if len(body) != count * dtype.itemsize:
        raise DataError(f"{path}: IDX body has {len(body)} bytes, the header says {count * dtype.itemsize}")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def default_data_dir() -> Path | None:
    """HSRNET_DATA, else ../shared/data beside the source checkout, else None."""
    env = os.environ.get("HSRNET_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent.parent / "shared" / "data"
        if (parent / "pyproject.toml").exists() and cand.is_dir():
            return cand
    return None


def _data_dir(root) -> Path:
    root = Path(root) if root is not None else default_data_dir()
    if root is None or not root.is_dir():
        raise DataError(
            "data folder not found: pass root= or set HSRNET_DATA to the folder holding mnist/, "
            "california_housing/ and letter/"
        )
    return root


def load_mnist(root=None):
    """(X_train (60000, 784) float32 in [0, 1], y_train int64, X_test, y_test)."""
    d = _data_dir(root) / "mnist"

    def images(name):
        a = read_idx(d / name)
        return a.reshape(a.shape[0], -1).astype(np.float32) / 255.0

    return (
        images("train-images-idx3-ubyte.gz"),
        read_idx(d / "train-labels-idx1-ubyte.gz").astype(np.int64),
        images("t10k-images-idx3-ubyte.gz"),
        read_idx(d / "t10k-labels-idx1-ubyte.gz").astype(np.int64),
    )


def load_california_housing(root=None):
    """(X (20640, 8) float64, y (20640,) float64 median house value in units of 100,000 dollars)."""
    path = _data_dir(root) / "california_housing" / "cal_housing.data"
    a = np.loadtxt(path, delimiter=",", dtype=np.float64)
    return a[:, :8], a[:, 8] / 1e5


def load_letter(root=None):
    """(X_train (16000, 16), y_train (letters), X_test (4000, 16), y_test): the usual split."""
    path = _data_dir(root) / "letter" / "letter-recognition.data"
    rows = [line.strip().split(",") for line in open(path) if line.strip()]
    y = np.array([r[0] for r in rows])
    X = np.array([[float(v) for v in r[1:]] for r in rows])
    return X[:16000], y[:16000], X[16000:], y[16000:]
