"""Reading user data files for the ``hsrnet`` command line: CSV, .npy, .npz and IDX.

Every reader returns a :class:`Table`: float64 features ``X`` (n, d), finite, and the target ``y`` (or None).
Everything that is wrong with a file is reported as a :class:`hsrnet.datasets.DataError` (a ValueError) with
a message that names the file, and where it helps the line and column.

Formats (chosen by the file name, else by the first bytes):

* CSV (``.csv``, ``.txt`` or anything that is not one of the others): fields separated by ``,`` ``;`` tab or
  ``|`` (the one that splits the first lines evenly, ``,`` first; or given), one sample per line,
  an optional header row. ``header="auto"`` treats the first row as a header when some column is numeric below
  it but not in it, or when none of its cells is a number. The target is a column name (with a header) or a
  0-based column index, negative counting from the end. Every other column is a feature and must be numeric;
  empty cells, NaN and infinities in features are errors (hsrnet does not impute). Target values stay strings
  until :func:`prepare_target` turns them into class labels or numbers.
* ``.npy``: a 2-D numeric array; the target is a column index.
* ``.npz``: the features are the array ``X`` (2-D); the target is the array named by ``target`` (default
  ``y``; 1-D, one value per row of ``X``). Other arrays are ignored.
* IDX (the MNIST format, gzipped or not; ``.idx``, ``*-ubyte``, ``.gz``, or recognised by its magic
  number): the images, flattened to one row each; uint8 pixels are scaled to [0, 1]. The target is the path
  of an IDX labels file with one label per image.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .datasets import DataError, read_idx

FORMATS = ("csv", "npy", "npz", "idx")
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
HEADER_MODES = ("auto", "yes", "no")

_IDX_TYPE_CODES = (0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E)


@dataclass
class Table:
    """Features, target and where they came from."""

    X: np.ndarray  # float64 (n, d), finite
    y: np.ndarray | None  # (n,) strings (CSV) or numbers, None when no target was asked for
    format: str
    path: Path
    feature_names: list = field(default_factory=list)
    target_name: str | None = None
    has_header: bool = False  # CSV: the feature names are the file's own column names

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    @property
    def n_features(self) -> int:
        return self.X.shape[1]


def detect_format(path) -> str:
    """'csv', 'npy', 'npz' or 'idx', from the file name, else from the first bytes."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".npy"):
        return "npy"
    if name.endswith(".npz"):
        return "npz"
    if name.endswith((".csv", ".txt", ".csv.gz")):
        return "csv"
    if name.endswith((".idx", ".idx.gz", "-ubyte", "-ubyte.gz")) or ".idx" in name:
        return "idx"
    head = _head(path, 8)
    if head[:6] == b"\x93NUMPY":
        return "npy"
    if head[:2] == b"PK":
        return "npz"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as f:
                head = f.read(4)
        except (OSError, EOFError):
            return "idx"  # a broken gzip file: let the IDX reader say so
        if _looks_like_idx(head):
            return "idx"
        return "csv"
    return "idx" if _looks_like_idx(head) else "csv"


def _looks_like_idx(head: bytes) -> bool:
    return len(head) >= 4 and head[0] == 0 and head[1] == 0 and head[2] in _IDX_TYPE_CODES and 1 <= head[3] <= 8


def _head(path: Path, n: int) -> bytes:
    _check_file(path)
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"{path} is a directory, not a data file")


def load_table(
    path, target=None, *, header: str = "auto", fmt: str | None = None, delimiter: str | None = None
) -> Table:
    """Reads a data file; `target` selects the target (see the module docstring), None: features only.

    CSV: `delimiter` is ",", ";", "\t" (or "tab"), "|", or None / "auto": the one of these that splits the
    first lines into the same number (> 1) of fields, "," first.
    """
    path = Path(path)
    _check_file(path)
    if header not in HEADER_MODES:
        raise ValueError(f"header must be one of {HEADER_MODES}, got {header!r}")
    if delimiter == "tab":
        delimiter = "\t"
    if delimiter == "auto":
        delimiter = None
    if delimiter is not None and delimiter not in DELIMITERS:
        raise ValueError(f"delimiter must be one of {DELIMITERS} or None, got {delimiter!r}")
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return _load_csv(path, target, header, delimiter)
    if fmt == "npy":
        return _load_npy(path, target)
    if fmt == "npz":
        return _load_npz(path, target)
    if fmt == "idx":
        return _load_idx(path, target)
    raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")


# ----------------------------------------------------------------------------------------------- CSV


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_csv_text(path: Path) -> str:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    if b"\x00" in raw[:65536]:
        raise DataError(f"{path} is not a text CSV file (it contains binary data)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}); save the CSV as UTF-8") from None


def sniff_delimiter(text: str) -> str:
    """The field separator among , ; tab | that splits the first non-blank lines into the same number (> 1) of
    fields ("," when several do, or none)."""
    sample = [line for line in text[:65536].splitlines()[:50] if line.strip()][:20]
    if len(sample) > 1 and not text[:65536].endswith(("\n", "\r")):
        sample = sample[:-1]  # the last line of the sample may be cut
    if not sample:
        return ","
    for d in DELIMITERS:
        try:
            counts = {len(row) for row in csv.reader(sample, delimiter=d)}
        except csv.Error:
            continue
        if len(counts) == 1 and counts.pop() > 1:
            return d
    return ","


def _csv_module_rows(text: str, path: Path, delimiter: str = ",") -> list:
    """(line number, stripped cells) of every non-blank row, by the csv module (quoted fields)."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    out = []
    try:
        for row in reader:
            if row and any(c.strip() for c in row):
                out.append((reader.line_num, [c.strip() for c in row]))
    except csv.Error as e:
        raise DataError(f"{path}: malformed CSV near line {reader.line_num}: {e}") from None
    return out


def _split(line: str, delimiter: str = ",") -> list:
    return [c.strip() for c in line.split(delimiter)]


def _has_header(rows: list) -> bool:
    first = rows[0][1]
    rest = [r for _, r in rows[1:101]]
    if not rest:
        return not any(_is_number(c) for c in first)
    for j, cell in enumerate(first):
        if _is_number(cell):
            continue
        column = [r[j] for r in rest if j < len(r)]
        if column and all(_is_number(c) for c in column):
            return True
    return not any(_is_number(c) for c in first) and any(_is_number(c) for r in rest for c in r)


def _resolve_column(target, names: list | None, ncols: int, path: Path, delimiter: str | None = None) -> int:
    """Column index of `target`: a header name, else an integer index (negative from the end)."""
    t = str(target)
    seen = ""
    if delimiter is not None and ncols == 1:
        seen = (
            f"; it was read as a single column (no ',', ';', tab or '|' separates its fields"
            f"{'' if delimiter == ',' else ', ' + _DELIMITER_NAMES[delimiter] + ' was used'}): give --delimiter"
        )
    if names is not None and t in names:
        if names.count(t) > 1:
            raise DataError(f"{path}: more than one column is named {t!r}; give the target as a 0-based index")
        return names.index(t)
    try:
        j = int(t)
    except ValueError:
        if names is None:
            raise DataError(
                f"{path} has no header row, so the target must be a 0-based column index, not {t!r}{seen}"
            ) from None
        import difflib

        close = difflib.get_close_matches(t, names, n=3, cutoff=0.6)
        if not close:
            close = [n for n in names if n.lower() == t.lower() or n.strip() == t.strip()][:3]
        hint = f"; did you mean {' or '.join(repr(n) for n in close)}?" if close else ""
        shown = ", ".join(repr(n) for n in names)
        raise DataError(f"{path}: no column named {t!r}{hint} (the {len(names)} columns: {shown}){seen}") from None
    if not -ncols <= j < ncols:
        raise DataError(
            f"{path}: target column index {j} is out of range: the file has {ncols} columns "
            f"(0..{ncols - 1}, or -{ncols}..-1){seen}"
        )
    return j % ncols


def _load_csv(path: Path, target, header: str, delimiter: str | None = None) -> Table:
    text = _read_csv_text(path)
    sep = delimiter or sniff_delimiter(text)
    # Without quotes a line is a row: split lines, parse the numbers in C (np.loadtxt). With quotes, the csv
    # module reads the rows (slower, but quoted fields may hold commas and newlines).
    quoted = '"' in text
    if quoted:
        rows = _csv_module_rows(text, path, sep)
        lines = None
    else:
        lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
        rows = None
    del text
    count = len(rows if quoted else lines)
    if count == 0:
        raise DataError(f"{path} is empty (no data rows)")
    head = rows[:101] if quoted else [(n, _split(line, sep)) for n, line in lines[:101]]
    has_header = header == "yes" or (header == "auto" and _has_header(head))
    names = head[0][1] if has_header else None
    if has_header:
        if quoted:
            rows = rows[1:]
        else:
            lines = lines[1:]
        if count == 1:
            raise DataError(f"{path} has a header row but no data rows")
    ncols = len(names) if names is not None else len(head[0][1])
    like = "the header" if names is not None else "the first row"
    if quoted:
        for line, row in rows:
            if len(row) != ncols:
                raise DataError(f"{path}: line {line} has {len(row)} fields, expected {ncols} (like {like})")
    else:
        for line, text_line in lines:
            if text_line.count(sep) != ncols - 1:
                raise DataError(
                    f"{path}: line {line} has {text_line.count(sep) + 1} fields, expected {ncols} "
                    f"(like {like}; separator {_DELIMITER_NAMES[sep]})"
                )
    names = names if names is not None else [str(j) for j in range(ncols)]
    tcol = None if target is None else _resolve_column(target, names if has_header else None, ncols, path, sep)
    fcols = [j for j in range(ncols) if j != tcol]
    if not fcols:
        raise DataError(f"{path}: no feature columns left besides the target")

    if quoted:
        line_numbers = [n for n, _ in rows]
        try:
            X = np.array([[row[j] for j in fcols] for _, row in rows], dtype=str).astype(np.float64)
        except ValueError:
            _raise_first_bad_cell(rows, fcols, names, path)
        y = None if tcol is None else np.array([row[tcol] for _, row in rows], dtype=object)
    else:
        line_numbers = [n for n, _ in lines]
        try:
            X = np.loadtxt(
                [t for _, t in lines], delimiter=sep, usecols=fcols, dtype=np.float64, ndmin=2, comments=None
            )
        except ValueError:
            _raise_first_bad_cell(((n, _split(t, sep)) for n, t in lines), fcols, names, path)
        y = None
        if tcol is not None:
            if tcol < ncols // 2:
                y = np.array([t.split(sep, tcol + 1)[tcol].strip() for _, t in lines], dtype=object)
            else:
                y = np.array([t.rsplit(sep, ncols - tcol)[1].strip() for _, t in lines], dtype=object)
    bad = ~np.isfinite(X)
    if bad.any():
        i, k = (int(v) for v in np.argwhere(bad)[0])
        raise DataError(
            f"{path}: line {line_numbers[i]}, column {names[fcols[k]]!r}: {X[i, k]} in the features "
            f"({int(bad.sum())} NaN or infinite value(s) in all; hsrnet does not impute: fill or drop "
            "them)"
        )
    if y is not None:
        empty = np.flatnonzero(y == "")
        if empty.size:
            raise DataError(f"{path}: line {line_numbers[empty[0]]}: the target {names[tcol]!r} is empty")
    return Table(
        X, y, "csv", path, [names[j] for j in fcols], None if tcol is None else names[tcol], has_header=has_header
    )


def _raise_first_bad_cell(rows, fcols: list, names: list, path: Path):
    """Raises the DataError for the first cell, in file order, that is not a number."""
    for line, row in rows:
        for j in fcols:
            cell = row[j]
            try:
                float(cell)
            except ValueError:
                if cell == "":
                    raise DataError(
                        f"{path}: line {line}, column {names[j]!r}: empty cell (missing value); "
                        "hsrnet does not impute: fill or drop it"
                    ) from None
                raise DataError(
                    f"{path}: line {line}, column {names[j]!r}: {cell!r} is not a number "
                    "(features must be numeric; encode categories as numbers)"
                ) from None
    raise DataError(f"{path}: the features cannot be read as numbers")


# --------------------------------------------------------------------------------------------- numpy


def _numeric_2d(a, path: Path, what: str) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} has dtype {a.dtype}; it must be numeric")
    if a.ndim == 1 and what.startswith("array 'X'"):
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise DataError(f"{path}: {what} has shape {a.shape}; a 2-D array (samples x columns) is needed")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{path}: {what} is empty (shape {a.shape})")
    return a


def _finite_features(X: np.ndarray, path: Path, names=None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        col = names[j] if names is not None else str(j)
        raise DataError(
            f"{path}: the features contain {int(bad.sum())} NaN or infinite value(s) (first at row {i}, "
            f"column {col}, 0-based); fill or drop them"
        )
    return np.ascontiguousarray(X)


def _load_npy(path: Path, target) -> Table:
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise DataError(f"{path}: cannot read the .npy file ({e})") from None
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy file ({e})") from None
    if not isinstance(a, np.ndarray):
        raise DataError(f"{path}: not a .npy array")
    a = _numeric_2d(a, path, "the array")
    ncols = a.shape[1]
    tcol = None if target is None else _resolve_column(target, None, ncols, path)
    fcols = [j for j in range(ncols) if j != tcol]
    if not fcols:
        raise DataError(f"{path}: no feature columns left besides the target")
    names = [str(j) for j in fcols]
    X = _finite_features(a[:, fcols], path, names)
    y = None if tcol is None else a[:, tcol].copy()
    return Table(X, y, "npy", path, names, None if tcol is None else str(tcol))


def _load_npz(path: Path, target) -> Table:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        raise DataError(f"{path}: cannot read the .npz file ({e})") from None
    except Exception as e:  # zipfile.BadZipFile, OSError, EOFError...
        raise DataError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if "X" not in arrays:
        raise DataError(
            f"{path}: no array named 'X' (arrays: {', '.join(sorted(arrays)) or 'none'}); "
            "an .npz data file holds the features in 'X' and the target in 'y' (or --target KEY)"
        )
    X = _numeric_2d(arrays["X"], path, "array 'X'")
    X = _finite_features(X.reshape(X.shape[0], -1), path)
    y, tname = None, None
    if target is not None:
        tname = str(target)
        if tname not in arrays:
            raise DataError(f"{path}: no array named {tname!r} for the target (arrays: {', '.join(sorted(arrays))})")
        if tname == "X":
            raise DataError(f"{path}: the target cannot be the feature array 'X'")
        y = arrays[tname]
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise DataError(
                f"{path}: target array {tname!r} has shape {y.shape}; expected ({X.shape[0]},), "
                "one value per row of 'X'"
            )
        if y.dtype.kind not in "biufUS":
            raise DataError(f"{path}: target array {tname!r} has dtype {y.dtype}; numbers or strings are needed")
        if y.dtype.kind == "S":
            y = y.astype(str)
    return Table(X, y, "npz", path, [str(j) for j in range(X.shape[1])], tname)


def npz_has_array(path, key: str) -> bool:
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            return key in z.files
    except Exception:
        return False


# ----------------------------------------------------------------------------------------------- IDX


def _load_idx(path: Path, target) -> Table:
    images = read_idx(path)
    if images.ndim < 2:
        raise DataError(
            f"{path}: IDX array of shape {images.shape} holds no samples with features "
            "(is this the labels file? pass it with --target)"
        )
    if images.shape[0] == 0:
        raise DataError(f"{path}: the IDX file holds no samples")
    X = images.reshape(images.shape[0], -1)
    X = X.astype(np.float64) / 255.0 if X.dtype == np.uint8 else X.astype(np.float64)
    X = _finite_features(X, path)
    y, tname = None, None
    if target is not None:
        lpath = Path(os.fspath(target))
        if not lpath.exists():
            raise DataError(
                f"labels file not found: {lpath} (for IDX data, --target is the path of the labels IDX file)"
            )
        _check_file(lpath)
        labels = read_idx(lpath)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise DataError(f"{lpath}: labels must be a 1-D IDX array, got shape {labels.shape}")
        if labels.shape[0] != X.shape[0]:
            raise DataError(f"{lpath} has {labels.shape[0]} labels for {X.shape[0]} images in {path}")
        y, tname = labels, str(lpath)
    return Table(X, y, "idx", path, [str(j) for j in range(X.shape[1])], tname)


# -------------------------------------------------------------------------------------------- target


def prepare_target(y, task: str, where: str, min_classes: int = 2) -> np.ndarray:
    """The target as the estimator should see it.

    regress: float64, finite (strings must parse as numbers). classify: int64 for integer numbers and for text
    that is an integer written plainly (``"3"``, ``"-1"``), else the text as written (``"cat"``, ``"01"``);
    non-integer numbers are refused (that looks like a regression target), and at least `min_classes` classes
    are needed (2 for training; 1 to score predictions).
    """
    y = np.asarray(y)
    if y.shape[0] == 0:
        raise DataError(f"{where}: no samples")
    if task == "regress":
        if y.dtype.kind in "biuf":
            v = y.astype(np.float64)
        else:
            v = np.empty(y.shape[0], dtype=np.float64)
            for i, s in enumerate(y):
                try:
                    v[i] = float(s)
                except (TypeError, ValueError):
                    raise DataError(
                        f"{where}: the target has non-numeric values (e.g. {s!r}, sample {i + 1} "
                        f"of {len(y)}); regression needs numbers: use --task classify for labels"
                    ) from None
        bad = ~np.isfinite(v)
        if bad.any():
            raise DataError(
                f"{where}: the target has {int(bad.sum())} NaN or infinite value(s) "
                f"(first: sample {int(np.argmax(bad)) + 1} of {len(v)})"
            )
        return v
    if task != "classify":
        raise ValueError(f"task must be 'classify' or 'regress', got {task!r}")
    if y.dtype.kind in "biu":
        labels = y.astype(np.int64)
    elif y.dtype.kind == "f":
        labels = _integral(y.astype(np.float64), where)
    else:
        strs = np.array([str(s) for s in y], dtype=str)
        distinct = np.unique(strs)
        if all(_canonical_int(s) for s in distinct):  # "0", "7", "-1": integer labels
            labels = strs.astype(np.int64)
        else:
            nums = []
            for s in distinct:
                try:
                    nums.append(float(s))
                except ValueError:
                    nums = None
                    break
            if nums is not None and not np.all(np.isfinite(nums) & (np.asarray(nums) == np.round(nums))):
                _integral(np.array([float(s) for s in strs]), where)  # raises: non-integer or NaN labels
            labels = strs  # words, or integer-valued text such as "01" or "1.0": kept as written
    if np.unique(labels).shape[0] < min_classes:
        raise DataError(f"{where}: the target has a single class ({labels[0]!r}); classification needs at least two")
    return labels


def _canonical_int(s: str) -> bool:
    try:
        return str(int(s)) == s
    except ValueError:
        return False


def _integral(v: np.ndarray, where: str) -> np.ndarray:
    bad = ~np.isfinite(v)
    if bad.any():
        raise DataError(
            f"{where}: the target has NaN or infinite value(s) (first: sample {int(np.argmax(bad)) + 1} of {len(v)})"
        )
    frac = v != np.round(v)
    if frac.any():
        i = int(np.argmax(frac))
        raise DataError(
            f"{where}: the target has non-integer numbers (e.g. {v[i]:g}, sample {i + 1} of {len(v)}), "
            "which are not class labels: use --task regress for a numeric target"
        )
    return v.astype(np.int64)
