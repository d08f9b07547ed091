"""Fuzz target for the model-file reader (tensor_file.decode + model_io.from_tensors), with atheris.

The contract under test: whatever bytes a model file holds, reading it either returns an estimator or raises
``ModelFileError`` -- never another exception, a crash, a hang or a huge allocation. Half of the inputs get a
valid size field and CRC-32 before they are read, so the mutations reach the parser behind the checksum.

    python tests/fuzz/fuzz_model_file.py -max_total_time=60 [corpus_dir]     # or scripts/fuzz.sh
"""

from __future__ import annotations

import struct
import sys
import warnings
import zlib

import atheris

with atheris.instrument_imports(include=["hsrnet"]):
    import numpy as np
    from hsrnet import model_io, tensor_file
    from hsrnet.tensor_file import ModelFileError

warnings.simplefilter("ignore")


def seeds() -> list:
    """Small valid model files (classifier with string labels, regressor): the starting corpus."""
    import hsrnet

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = hsrnet.HSRClassifier(n_neurons=8, max_iter=1, random_state=0).fit(X, y)
    reg = hsrnet.HSRRegressor(n_neurons=8, max_iter=1, random_state=0).fit(X, X[:, 1])
    return [tensor_file.encode(model_io.to_tensors(clf)), tensor_file.encode(model_io.to_tensors(reg))]


def fix_checks(data: bytes) -> bytes:
    """The same bytes with the size field and the CRC made valid (when the file is long enough to hold them)."""
    if len(data) < 28:
        return data
    buf = bytearray(data)
    struct.pack_into("<Q", buf, 16, len(buf))
    struct.pack_into("<I", buf, len(buf) - 4, zlib.crc32(bytes(buf[:-4])) & 0xFFFFFFFF)
    return bytes(buf)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    body = fix_checks(data[1:]) if data[0] & 1 else data[1:]
    try:
        tensors = tensor_file.decode(body, "fuzz input")
        model_io.from_tensors(tensors, "fuzz input")
    except ModelFileError:
        pass


def main(argv) -> None:
    import os
    import tempfile

    dirs = [a for a in argv[1:] if not a.startswith("-")]
    if not dirs:  # a fresh corpus folder holding the seeds
        corpus = tempfile.mkdtemp(prefix="hsrnet-fuzz-corpus-")
        argv = argv + [corpus]
        dirs = [corpus]
    corpus = dirs[0]
    os.makedirs(corpus, exist_ok=True)
    for i, seed in enumerate(seeds()):
        for fixed, prefix in ((False, b"\x00"), (True, b"\x01")):
            with open(os.path.join(corpus, f"seed-{i}-{int(fixed)}"), "wb") as f:
                f.write(prefix + seed)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
