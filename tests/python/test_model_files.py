"""Model files: est.save(path) / hsrnet.load(path), every kind of damage, atomic saving, C++ <-> Python fixtures."""

from __future__ import annotations

import json
import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

import hsrnet  # noqa: E402
from hsrnet import HSRClassifier, HSRRegressor, model_io, tensor_file  # noqa: E402
from hsrnet.tensor_file import ModelFileError  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = dict(
    n_neurons=128,
    max_iter=3,
    batch_size=16,
    learning_rate_init=30.0,
    random_state=0,
    solver="sgd",
    input_map="standardize",
)


def fit_quiet(est, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args)


@pytest.fixture(scope="module")
def clf():
    X, y = make_classification(n_samples=150, n_features=6, n_informative=4, n_classes=3, random_state=0)
    return fit_quiet(HSRClassifier(**SMALL), X, y), X


@pytest.fixture(scope="module")
def saved(tmp_path_factory, clf):
    path = tmp_path_factory.mktemp("model") / "clf.hsr"
    clf[0].save(path)
    return path, path.read_bytes()


def assert_same_model(a, b, X):
    assert type(a) is type(b)
    assert a.get_params() == b.get_params()
    np.testing.assert_array_equal(a.network_.hidden_weights(), b.network_.hidden_weights())
    np.testing.assert_array_equal(a.network_.output_weights(), b.network_.output_weights())
    assert a.network_.threshold == b.network_.threshold
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    for name in (
        "n_features_in_",
        "n_iter_",
        "t_",
        "loss_curve_",
        "firing_fraction_",
        "timings_",
        "best_loss_",
        "validation_scores_",
        "best_validation_score_",
    ):
        assert getattr(a, name) == getattr(b, name), name
    if isinstance(a, HSRClassifier):
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
        assert a.classes_.dtype == b.classes_.dtype
        np.testing.assert_array_equal(a.classes_, b.classes_)
    else:
        np.testing.assert_array_equal(a.y_mean_, b.y_mean_)
        np.testing.assert_array_equal(a.y_scale_, b.y_scale_)


# ------------------------------------------------------------------------------------------ round trips
def test_classifier_round_trip(tmp_path, clf):
    est, X = clf
    est.save(tmp_path / "m.hsr")
    back = hsrnet.load(tmp_path / "m.hsr")
    assert_same_model(est, back, X)
    assert os.listdir(tmp_path) == ["m.hsr"]
    back2 = hsrnet.load(str(tmp_path / "m.hsr"))  # str paths too
    assert_same_model(est, back2, X)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([3, 10, -7]),  # int64
        np.array([1.0, 2.0, -3.0]),  # float64
        np.array(["setosa", "versicolor", "virginica"]),  # <U10
        np.array(["ä", "b", "c"], dtype=object),  # object strings (pandas)
        np.array([True, False, True]),  # bool, two classes
    ],
)
def test_label_types(tmp_path, labels):
    X, y = make_classification(
        n_samples=90, n_features=4, n_informative=3, n_redundant=0, n_classes=3, n_clusters_per_class=1, random_state=1
    )
    y_labels = labels[y % len(labels)]
    est = fit_quiet(HSRClassifier(**SMALL), X, y_labels)
    est.save(tmp_path / "m.hsr")
    back = hsrnet.load(tmp_path / "m.hsr")
    assert_same_model(est, back, X)
    assert back.predict(X).dtype == est.predict(X).dtype


def test_regressor_round_trip(tmp_path):
    X, Y = make_regression(n_samples=120, n_features=5, n_targets=2, random_state=0)
    for y in (Y, Y[:, 0], Y[:, :1]):
        est = fit_quiet(HSRRegressor(**SMALL), X, y)
        est.save(tmp_path / "r.hsr")
        back = hsrnet.load(tmp_path / "r.hsr")
        assert_same_model(est, back, X)
        assert back.predict(X).shape == est.predict(X).shape


def test_round_trip_with_early_stopping_feature_names_and_options(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = make_classification(n_samples=150, n_features=4, n_informative=3, n_redundant=0, random_state=2)
    df = pd.DataFrame(X, columns=["w", "x", "y", "z"])
    est = fit_quiet(
        HSRClassifier(
            **{
                **SMALL,
                "early_stopping": True,
                "threshold": 1.25,
                "learning_rate": "adaptive",
                "train_output_layer": False,
                "strategy": "scan",
            }
        ),
        df,
        y,
    )
    est.save(tmp_path / "m.hsr")
    back = hsrnet.load(tmp_path / "m.hsr")
    assert_same_model(est, back, df)
    np.testing.assert_array_equal(back.feature_names_in_, ["w", "x", "y", "z"])
    assert back.feature_names_in_.dtype == object
    with pytest.warns(UserWarning, match="feature names"):
        back.predict(X)


def test_input_map_none_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    est = fit_quiet(HSRRegressor(**{**SMALL, "input_map": "none"}), X, X[:, 0] * X[:, 1])
    est.save(tmp_path / "m.hsr")
    assert_same_model(est, hsrnet.load(tmp_path / "m.hsr"), X)


def test_training_continues_identically_after_load(tmp_path, clf):
    est, X = clf
    y = est.predict(X)
    a = fit_quiet(HSRClassifier(**{**SMALL, "warm_start": True}), X, y)
    a.save(tmp_path / "m.hsr")
    b = hsrnet.load(tmp_path / "m.hsr")
    fit_quiet(a, X, y)
    fit_quiet(b, X, y)
    np.testing.assert_array_equal(a.network_.hidden_weights(), b.network_.hidden_weights())
    assert a.n_iter_ == b.n_iter_ == 6


def test_file_contents(saved, clf):
    est, _ = clf
    t = tensor_file.load(saved[0])
    assert bytes(t["hsrnet/kind"]).decode() == "HSRClassifier"
    assert json.loads(bytes(t["hsrnet/params"]).decode()) == est.get_params()
    assert t["network/W"].dtype == np.float32 and t["network/W"].shape == (128, 7)
    assert t["network/A"].dtype == np.float32 and t["network/A"].shape == (128, 3)
    assert t["network/threshold"].dtype == np.float64 and t["network/threshold"].size == 1
    assert json.loads(bytes(t["classifier/classes"]).decode()) == {"dtype": "<i8", "values": [0, 1, 2]}
    assert t["fit/loss_curve"].dtype == np.float64 and t["fit/loss_curve"].shape == (3,)
    for key in (
        "input_map/kind",
        "input_map/mean",
        "input_map/scale",
        "input_map/constant",
        "fit/timings/identify",
        "fit/timings/maintenance",
        "fit/firing_fraction",
    ):
        assert key in t


def test_random_state_instance_is_stored_as_none(tmp_path, clf):
    _, X = clf
    est = fit_quiet(HSRClassifier(**{**SMALL, "random_state": np.random.RandomState(0)}), X, np.arange(150) % 2)
    est.save(tmp_path / "m.hsr")
    assert hsrnet.load(tmp_path / "m.hsr").random_state is None


def test_unsaveable(tmp_path, clf):
    with pytest.raises(Exception, match="not fitted"):
        HSRClassifier().save(tmp_path / "m.hsr")
    est, _ = clf
    est = pickle.loads(pickle.dumps(est))
    est.classes_ = np.array([1j, 2j, 3j])  # not a label type a model file (or scikit-learn) supports
    with pytest.raises(TypeError, match="class label"):
        est.save(tmp_path / "m.hsr")
    assert not os.listdir(tmp_path)


# ----------------------------------------------------------------------------------------------- damage
def write(tmp_path, data: bytes) -> Path:
    p = tmp_path / "bad.hsr"
    p.write_bytes(data)
    return p


def with_crc(data: bytearray) -> bytes:
    struct.pack_into("<I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])) & 0xFFFFFFFF)
    return bytes(data)


def test_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        hsrnet.load(tmp_path / "nope.hsr")


def test_directory(tmp_path):
    with pytest.raises(ModelFileError, match="directory"):
        hsrnet.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 10, 100, -1, -4, -200])
def test_truncated(tmp_path, saved, keep):
    data = saved[1]
    cut = data[:keep] if keep >= 0 else data[: len(data) + keep]
    with pytest.raises(ModelFileError, match="truncated|bad magic"):
        hsrnet.load(write(tmp_path, cut))
    if len(cut) >= 28:
        with pytest.raises(ModelFileError, match="truncated"):
            hsrnet.load(write(tmp_path, cut))


def test_flipped_byte_is_a_checksum_error(tmp_path, saved):
    data = bytearray(saved[1])
    rng = np.random.default_rng(0)
    for pos in [len(data) // 2, 1000, len(data) - 5, *rng.integers(24 + 128 * 30, len(data) - 4, size=10)]:
        bad = bytearray(data)
        bad[pos] ^= 0x10
        with pytest.raises(ModelFileError, match="checksum"):
            hsrnet.load(write(tmp_path, bytes(bad)))


def test_every_flipped_header_byte_is_caught(tmp_path, saved):
    data = saved[1]
    for pos in range(0, 24 + 128 * 2):
        bad = bytearray(data)
        bad[pos] ^= 0x01
        with pytest.raises(ModelFileError):
            tensor_file.decode(bytes(bad))


def test_foreign_file(tmp_path):
    with pytest.raises(ModelFileError, match="bad magic"):
        hsrnet.load(write(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(200)))
    with pytest.raises(ModelFileError, match="bad magic"):
        hsrnet.load(write(tmp_path, b"just some text, long enough to pass the size check\n"))
    with pytest.raises(ModelFileError, match="bad magic"):
        hsrnet.load(write(tmp_path, b""))
    with pytest.raises(ModelFileError, match="bad magic"):  # a pickle is not a model file (and is not run)
        hsrnet.load(write(tmp_path, pickle.dumps(HSRClassifier()) + bytes(64)))


def test_newer_version(tmp_path, saved):
    bad = bytearray(saved[1])
    struct.pack_into("<I", bad, 8, tensor_file.VERSION + 1)
    with pytest.raises(ModelFileError, match="newer"):
        hsrnet.load(write(tmp_path, with_crc(bad)))


def test_tensor_file_that_is_not_a_model(tmp_path):
    p = tmp_path / "t.hsr"
    tensor_file.save(p, {"x": np.zeros(3, np.float32)})
    with pytest.raises(ModelFileError, match="lacks the required tensor 'hsrnet/kind'"):
        hsrnet.load(p)


@pytest.mark.parametrize(
    "name",
    [
        "network/W",
        "network/A",
        "network/threshold",
        "hsrnet/params",
        "input_map/kind",
        "classifier/classes",
        "fit/n_features_in",
    ],
)
def test_missing_required_tensor(tmp_path, saved, name):
    t = tensor_file.load(saved[0])
    del t[name]
    tensor_file.save(tmp_path / "m.hsr", t)
    with pytest.raises(ModelFileError, match=f"lacks the required tensor '{name}'"):
        hsrnet.load(tmp_path / "m.hsr")


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda t: t.update({"hsrnet/kind": np.frombuffer(b"HSRMagic", np.uint8)}), "unknown model kind"),
        (lambda t: t.update({"hsrnet/params": np.frombuffer(b"{not json", np.uint8)}), "not valid UTF-8 JSON"),
        (
            lambda t: t.update({"hsrnet/params": np.frombuffer(b'{"n_neurons": 5, "flux": 1}', np.uint8)}),
            "unknown parameters",
        ),
        (lambda t: t.update({"network/W": t["network/W"][:, :3].copy()}), "input dimension"),
        (lambda t: t.update({"network/A": t["network/A"][:5].copy()}), "shapes"),
        (lambda t: t.update({"network/W": t["network/W"].astype(np.float64)}), "float32"),
        (lambda t: t.update({"network/threshold": np.array([1.0, 2.0])}), "scalar"),
        (
            lambda t: t.update({"classifier/classes": np.frombuffer(b'{"dtype": "<i8", "values": [1, 2]}', np.uint8)}),
            "classes",
        ),
        (lambda t: t.update({"input_map/mean": np.zeros(2)}), "input_map/mean"),
    ],
)
def test_inconsistent_model(tmp_path, saved, change, match):
    t = tensor_file.load(saved[0])
    change(t)
    tensor_file.save(tmp_path / "m.hsr", t)
    with pytest.raises(ModelFileError, match=match):
        hsrnet.load(tmp_path / "m.hsr")


# ---------------------------------------------------------------------------------------- atomic saving
def test_failed_save_keeps_the_old_file(tmp_path, clf, monkeypatch):
    est, _ = clf
    path = tmp_path / "m.hsr"
    path.write_bytes(b"the previous model")

    def broken_replace(src, dst):
        raise OSError("simulated crash during rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated crash"):
        est.save(path)
    assert path.read_bytes() == b"the previous model"
    assert os.listdir(tmp_path) == ["m.hsr"]  # no temporary file left behind


def test_failed_write_keeps_the_old_file(tmp_path, clf, monkeypatch):
    est, X = clf
    path = tmp_path / "m.hsr"
    est.save(path)
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("simulated disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        est.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.hsr"]
    assert_same_model(est, hsrnet.load(path), X)


def test_save_over_existing_model(tmp_path, clf):
    est, X = clf
    path = tmp_path / "m.hsr"
    fit_quiet(HSRRegressor(**SMALL), X, X[:, 0]).save(path)
    est.save(path)
    assert_same_model(est, hsrnet.load(path), X)
    assert os.listdir(tmp_path) == ["m.hsr"]


# ------------------------------------------------------------------------------------ C++ <-> Python
def test_reads_the_cpp_fixture():
    """tests/data/tensor_file_cpp.hsrt was written by tests/cpp/test_tensor_file.cpp (C++)."""
    t = tensor_file.load(DATA / "tensor_file_cpp.hsrt")
    assert set(t) == {"cpp/a", "cpp/n", "cpp/text", "cpp/s"}
    assert t["cpp/a"].dtype == np.float64 and t["cpp/a"].shape == (2, 2)
    np.testing.assert_array_equal(t["cpp/a"], [[0.5, -1e300], [3.25, 2.0**-20]])
    assert t["cpp/n"].dtype == np.int32
    np.testing.assert_array_equal(t["cpp/n"], [-1, 0, 7, 2147483647])
    assert bytes(t["cpp/text"]).decode() == "C++ wrote this"
    assert t["cpp/s"].dtype == np.float32 and t["cpp/s"].shape == () and t["cpp/s"] == 3.5
    # Python encodes what C++ wrote to the same bytes (the format is deterministic: zero padding, 64-byte data).
    assert tensor_file.encode(t) == (DATA / "tensor_file_cpp.hsrt").read_bytes()


def test_scalars_keep_their_shape():
    data = (DATA / "tensor_file_cpp.hsrt").read_bytes()
    assert tensor_file.encode(tensor_file.decode(data)) == data
    assert tensor_file.decode(tensor_file.encode({"s": np.array(2.0)}))["s"].shape == ()


def test_python_fixture_is_stable():
    """tests/data/tensor_file_python.hsrt (read by the C++ test) is what this Python writes today."""
    expected = {
        "py/w": np.array([[1.5, -2, 0.25], [3, 4, -0.125]], dtype=np.float32),
        "py/b": np.array(1 / 3),
        "py/ids": np.array([1, -2, 1 << 40], dtype=np.int64),
        "py/text": np.frombuffer("Python wrote this: héllo".encode(), dtype=np.uint8),
    }
    data = (DATA / "tensor_file_python.hsrt").read_bytes()
    assert tensor_file.encode(expected) == data
    t = tensor_file.decode(data)
    for name, value in expected.items():
        assert t[name].dtype == value.dtype
        np.testing.assert_array_equal(t[name].reshape(value.shape), value)


def test_model_io_tensor_names_fit_the_format(clf):
    est, _ = clf
    for name in model_io.to_tensors(est):
        assert 1 <= len(name.encode()) <= 63


def test_saved_file_gets_the_usual_permissions(tmp_path):
    """The atomic save goes through a temporary file (created 0600 by mkstemp); the result must have the
    permissions a plain open() gives (0666 less the umask), or other users lose read access to models."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.hsr"
        tensor_file.save(path, {"x": np.arange(3, dtype=np.float32)})
        assert (path.stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(old)
