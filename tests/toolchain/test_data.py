"""Tests of toolchain.data and toolchain.data_formats on small files written in tmp_path.

The IDX and CIFAR files are written here by an independent writer (``struct`` big-endian
header, ``pickle.dump`` of dicts of numpy arrays, as the real files are), so the readers are
checked against the format, not against themselves.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim.errors import ConfigError, DataError
from toolchain.data import DATASETS, iterate_batches, load_dataset, stratified_split
from toolchain.data_formats import read_cifar_batch, read_idx

# ---------------------------------------------------------------------------------------------
# independent writers


def write_idx(path, array: np.ndarray, magic: int, gz: bool = False):
    """IDX: magic and dims as big-endian uint32, then the uint8 payload."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    blob = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if gz else blob)
    return path


def write_mnist_dir(root, n_train=30, n_test=12, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", x, 2051, gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", y, 2049, gz)
        arrays[prefix] = (x, y)
    return arrays


def write_cifar_batch(path, n, seed, protocol=pickle.DEFAULT_PROTOCOL):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    batch = {
        b"batch_label": b"training batch",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=protocol)
    return data, np.array(labels)


class _Evil:
    """Pickles as a call of ``fn(*args)``: what a malicious file would contain."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


# ---------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    x = np.random.default_rng(1).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = write_idx(tmp_path / "images", x, 2051, gz)
    np.testing.assert_array_equal(read_idx(path, 2051), x)
    y = np.arange(9, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "l", y, 2049, gz), 2049), y)


def test_idx_header_golden_bytes(tmp_path):
    # 2051 = 0x00000803, dims 1, 2, 2 big-endian, then 4 pixels.
    raw = bytes.fromhex("00000803 00000001 00000002 00000002 01020304".replace(" ", ""))
    (tmp_path / "f").write_bytes(raw)
    np.testing.assert_array_equal(read_idx(tmp_path / "f", 2051), [[[1, 2], [3, 4]]])


@pytest.mark.parametrize("gz", [False, True])
def test_idx_truncated(tmp_path, gz):
    path = tmp_path / "images"
    blob = struct.pack(">4I", 2051, 2, 4, 4) + bytes(31)  # one byte short of 2*4*4
    path.write_bytes(gzip.compress(blob) if gz else blob)
    with pytest.raises(DataError, match="truncated") as exc:
        read_idx(path, 2051)
    assert str(path) in str(exc.value) and "magic 2051" in str(exc.value)


def test_idx_trailing_bytes_and_short_header(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(struct.pack(">2I", 2049, 3) + bytes(4))
    with pytest.raises(DataError, match="trailing bytes"):
        read_idx(path, 2049)
    path.write_bytes(struct.pack(">I", 2051) + bytes(3))
    with pytest.raises(DataError, match="header"):
        read_idx(path, 2051)


def test_idx_wrong_magic(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros(4, np.uint8), 2049)
    with pytest.raises(DataError) as exc:
        read_idx(path, 2051)
    msg = str(exc.value)
    assert str(path) in msg and "magic number 2049" in msg and "big-endian uint32 dims" in msg


def test_idx_missing_and_broken_gzip(tmp_path):
    with pytest.raises(DataError, match="not found") as exc:
        read_idx(tmp_path / "nope", 2051)
    assert str(tmp_path / "nope") in str(exc.value)
    blob = gzip.compress(struct.pack(">2I", 2049, 100) + bytes(100))
    (tmp_path / "cut.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="gzip") as exc:
        read_idx(tmp_path / "cut.gz", 2049)
    assert str(tmp_path / "cut.gz") in str(exc.value)


# ---------------------------------------------------------------------------------------------
# CIFAR batches and the restricted unpickler


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_round_trip(tmp_path, protocol):
    data, labels = write_cifar_batch(tmp_path / "b", 6, seed=2, protocol=protocol)
    x, y = read_cifar_batch(tmp_path / "b")
    assert x.shape == (6, 3, 32, 32) and y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)
    # Row layout: 1024 red values, then green, then blue, each plane row-major 32x32.
    assert x[3, 0, 0, 0] == data[3, 0] and x[3, 1, 0, 0] == data[3, 1024]
    assert x[3, 2, 31, 31] == data[3, 3071] and x[3, 0, 1, 0] == data[3, 32]


@pytest.mark.parametrize(
    "payload",
    [
        _Evil(os.system, "echo pwned > PWNED"),
        _Evil(eval, "__import__('os').getcwd()"),
        _Evil(str.encode, "x", "zlib_codec"),
    ],
    ids=["os.system", "eval", "method"],
)
def test_cifar_forbidden_global_is_refused(tmp_path, payload, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": payload}, f)
    with pytest.raises(DataError, match="forbidden global") as exc:
        read_cifar_batch(path)
    assert str(path) in str(exc.value) and "CIFAR-10 python batch" in str(exc.value)
    assert not (tmp_path / "PWNED").exists()


def test_cifar_codecs_encode_only_latin1(tmp_path):
    import codecs

    path = tmp_path / "b"
    with open(path, "wb") as f:
        pickle.dump({b"x": _Evil(codecs.encode, "abc", "rot13")}, f, protocol=2)
    with pytest.raises(DataError, match="rot13"):
        read_cifar_batch(path)


@pytest.mark.parametrize(
    "batch, match",
    [
        ([1, 2], "pickle holds a list"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "float32"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, "100 columns"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "labels"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0.5, 1.0]}, "labels"),
        ({b"labels": [0]}, "missing"),
    ],
)
def test_cifar_wrong_structure(tmp_path, batch, match):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps(batch))
    with pytest.raises(DataError, match=match) as exc:
        read_cifar_batch(path)
    assert str(path) in str(exc.value)


def test_cifar_truncated_and_missing(tmp_path):
    write_cifar_batch(tmp_path / "b", 3, seed=0)
    blob = (tmp_path / "b").read_bytes()
    (tmp_path / "b").write_bytes(blob[:-100])
    with pytest.raises(DataError, match="unreadable pickle") as exc:
        read_cifar_batch(tmp_path / "b")
    assert str(tmp_path / "b") in str(exc.value)
    with pytest.raises(DataError, match="not found"):
        read_cifar_batch(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------
# load_dataset on file datasets


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_dataset(tmp_path, name, gz):
    arrays = write_mnist_dir(tmp_path, gz=gz)
    ds = load_dataset(name, root=tmp_path)
    assert ds.name == name and ds.in_shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.x_train.shape == (30, 1, 28, 28) and ds.x_test.shape == (12, 1, 28, 28)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    np.testing.assert_array_equal((ds.x_train * 255).round().numpy()[:, 0], arrays["train"][0])
    np.testing.assert_array_equal(ds.y_test.numpy(), arrays["t10k"][1])
    assert ds.x_train.max() <= 1 and ds.x_train.min() >= 0
    small = load_dataset(name, root=tmp_path, limit=5)
    assert torch.equal(small.x_train, ds.x_train[:5]) and torch.equal(small.y_test, ds.y_test[:5])


def test_load_idx_errors(tmp_path):
    write_mnist_dir(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(DataError, match="magic 2051") as exc:
        load_dataset("mnist", root=tmp_path)
    assert str(tmp_path / "t10k-images-idx3-ubyte") in str(exc.value)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8), 2051)
    with pytest.raises(DataError, match="3 images but"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(ConfigError, match="root"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("mnist", root=tmp_path / "absent")


def test_load_cifar10(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    batches = [write_cifar_batch(sub / f"data_batch_{i}", 4, seed=i) for i in range(1, 6)]
    test = write_cifar_batch(sub / "test_batch", 3, seed=9)
    ds = load_dataset("cifar10", root=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert ds.in_shape == (3, 32, 32)
    expected = np.concatenate([d for d, _ in batches]).reshape(-1, 3, 32, 32)
    np.testing.assert_array_equal((ds.x_train * 255).round().to(torch.uint8).numpy(), expected)
    np.testing.assert_array_equal(ds.y_test.numpy(), test[1])
    # limit=6 needs batches 1 and 2 only: a poisoned batch 3 is never opened.
    with open(sub / "data_batch_3", "wb") as f:
        pickle.dump(_Evil(os.system, "true"), f)
    assert load_dataset("cifar10", root=sub, limit=6).x_train.shape[0] == 6
    with pytest.raises(DataError, match="forbidden global") as exc:
        load_dataset("cifar10", root=sub)
    assert str(sub / "data_batch_3") in str(exc.value)


def test_unknown_dataset_and_bad_limit():
    with pytest.raises(ConfigError) as exc:
        load_dataset("imagenet")
    assert all(name in str(exc.value) for name in DATASETS)
    with pytest.raises(ConfigError, match="limit"):
        load_dataset("digits", limit=0)


# ---------------------------------------------------------------------------------------------
# packaged datasets and splits


def test_digits():
    from sklearn.datasets import load_digits

    ds = load_dataset("digits")
    assert ds.in_shape == (1, 8, 8) and ds.x_train.dtype == torch.float32
    assert ds.x_train.shape[0] + ds.x_test.shape[0] == 1797
    assert abs(ds.x_test.shape[0] - 0.2 * 1797) <= 10  # one rounding per class
    # Every image is an original one / 16: the multiset of (image, label) pairs is preserved.
    ref = load_digits()
    x = torch.cat([ds.x_train, ds.x_test]).numpy().reshape(1797, 64) * 16
    y = torch.cat([ds.y_train, ds.y_test]).numpy()
    key = lambda a, b: sorted(map(tuple, np.column_stack([a, b]).astype(int).tolist()))
    assert key(x, y) == key(ref.data, ref.target)


def test_mnist5k_shapes_and_exact_stratification():
    ds = load_dataset("mnist5k", seed=3)
    assert ds.x_train.shape == (4000, 1, 28, 28) and ds.x_test.shape == (1000, 1, 28, 28)
    assert 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    pixels = ds.x_test * 255
    assert torch.equal(pixels, pixels.round())
    # 500 images per class and a 0.2 fraction: exactly 100 of each class in the test set.
    assert torch.bincount(ds.y_test).tolist() == [100] * 10


def test_cached_arrays_are_not_shared():
    a = load_dataset("digits", seed=1)
    a.x_train.fill_(7.0)
    b = load_dataset("digits", seed=1)
    assert b.x_train.max() <= 1


def test_split_determinism_and_limit_prefix():
    a, b = load_dataset("digits", seed=5), load_dataset("digits", seed=5)
    c = load_dataset("digits", seed=6)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)
    small = load_dataset("digits", seed=5, limit=50)
    assert torch.equal(small.x_train, a.x_train[:50]) and torch.equal(small.y_test, a.y_test[:50])


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=2, max_size=300),
    fraction=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**31),
)
def test_stratified_split_properties(labels, fraction, seed):
    y = np.array(labels)
    train, test = stratified_split(y, fraction, seed)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(y)))
    for c in np.unique(y):
        n_c, n_test = int((y == c).sum()), int((y[test] == c).sum())
        if n_c == 1:
            assert n_test == 0
        else:
            assert 1 <= n_test <= n_c - 1
            assert abs(n_test - fraction * n_c) <= 0.5 or n_test in (1, n_c - 1)
    again = stratified_split(y, fraction, seed)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)


def test_stratified_split_seed_changes_split_and_bad_fraction():
    y = np.repeat(np.arange(4), 25)
    assert not np.array_equal(stratified_split(y, 0.3, 0)[1], stratified_split(y, 0.3, 1)[1])
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ConfigError, match="test_fraction"):
            stratified_split(y, bad, 0)


# ---------------------------------------------------------------------------------------------
# batches


def test_iterate_batches():
    x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    plain = list(iterate_batches(x, y, 4))
    assert [len(b[1]) for b in plain] == [4, 4, 2]
    assert torch.equal(torch.cat([b[1] for b in plain]), y)
    assert [len(b[1]) for b in iterate_batches(x, y, 4, drop_last=True)] == [4, 4]

    def order(seed):
        g = torch.Generator().manual_seed(seed)
        return torch.cat([yb for _, yb in iterate_batches(x, y, 3, shuffle=True, generator=g)])

    assert sorted(order(0).tolist()) == list(range(10))
    assert torch.equal(order(0), order(0)) and not torch.equal(order(0), order(1))
    for xb, yb in iterate_batches(x, y, 3, shuffle=True):
        assert torch.equal(xb[:, 0].long(), yb)  # pairs stay aligned
    with pytest.raises(DataError):
        next(iterate_batches(x, y[:5], 2))
    with pytest.raises(ConfigError):
        next(iterate_batches(x, y, 0))
