"""What the subcommands share: exit codes, CLIError, option types, output helpers, data and model loading."""

from __future__ import annotations

import argparse
import os
import struct
import sys

import numpy as np

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_DATA, EXIT_MODEL = 0, 1, 2, 3, 4


_MAX_NEURONS = 2**31 - 2  # the estimators' limit on n_neurons


_OVERFIT_GAP = 0.1  # train score above the held-out score by more than this: warn


class CLIError(Exception):
    """An error to report as one line, with its exit code."""

    def __init__(self, message, code=EXIT_FAILURE):
        super().__init__(message)
        self.code = code


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _neurons(text):
    v = _positive_int(text)
    if v > _MAX_NEURONS:
        raise argparse.ArgumentTypeError(f"must be in [1, {_MAX_NEURONS:,}], got {v:,}")
    return v


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0 < v < 1:
        raise argparse.ArgumentTypeError(f"must lie strictly between 0 and 1, got {text!r}")
    return v


def _threads(text):
    if text in ("all", "-1"):
        return -1
    v = _positive_int(text)
    if v > 4096:
        raise argparse.ArgumentTypeError(f"must be in [1, 4096] or 'all', got {v}")
    return v


def _seed(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"must be in [0, 2^32), got {v}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text!r}")
    return v


def _threshold(text):
    if text == "auto":
        return "auto"
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number, got {text!r}") from None
    if not np.isfinite(v):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return v


def _log2m(text):
    v = _positive_int(text)
    if not 4 <= v <= 24:
        raise argparse.ArgumentTypeError(f"must be in [4, 24], got {v}")
    return v


def _say(*args, file=None):
    print(*args, file=file or sys.stdout, flush=True)


def _human_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def _load_data(args, target):
    from ..data_files import load_table

    return load_table(args.data, target, header=args.header, delimiter=args.delimiter)


def _load_model(path, whole_file=False):
    """An estimator from a model file (whole_file: the model_io.ModelFile, the estimator with the file's tensors,
    version and size, all from one read); exit code 4 for every way the file can be wrong."""
    from .. import estimators  # noqa: F401  (registers the model-file kinds)
    from ..model_io import read_model
    from ..tensor_file import ModelFileError

    try:
        model = read_model(path)
        return model if whole_file else model.estimator
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, struct.error) as e:  # damage the checks let through
        raise CLIError(f"cannot load model file {path}: {e}", EXIT_MODEL) from None
    except FileNotFoundError:
        raise CLIError(f"model file not found: {path}", EXIT_MODEL) from None
    except IsADirectoryError:
        raise CLIError(f"{path} is a directory, not a model file", EXIT_MODEL) from None
    except PermissionError:
        raise CLIError(f"cannot read model file {path}: permission denied", EXIT_MODEL) from None
    except OSError as e:
        raise CLIError(f"cannot read model file {path}: {e.strerror or e}", EXIT_MODEL) from None


def _check_writable(path, what):
    """Fails before any work when `path` cannot be written (missing folder, a folder in its place)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise CLIError(f"{what} {path} is a directory", EXIT_USAGE)
    if what == "model file":  # written through symlinks, never over a device, pipe or socket
        from ..tensor_file import resolve_target

        try:
            path = resolve_target(path)[0]
        except OSError as e:
            raise CLIError(f"cannot write {what}: {e}", EXIT_USAGE) from None
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise CLIError(f"cannot write {what} {path}: the folder {parent} does not exist", EXIT_USAGE)
    if not os.access(parent, os.W_OK):
        raise CLIError(f"cannot write {what} {path}: the folder {parent} is not writable", EXIT_USAGE)


def _warning_line(w):
    text = " ".join(str(w.message).split())
    if w.category.__name__ == "ConvergenceWarning":
        return (
            f"hsrnet: warning: training ended at the epoch limit before the loss settled ({text}); "
            "more --epochs may help"
        )
    return f"hsrnet: warning: {text}"
