"""``spikefold import nir`` under hostile files and flags (issue 14): a NIR file is checked
from its HDF5 headers before anything is read (an 8 TiB dataset in a 2 kB file is refused
unallocated), then mapped to the graph IR and validated; flags and names are checked before
the run directory is touched."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from tests.hostile.conftest import assert_error, assert_ok, cli, snapshot


@pytest.fixture(scope="module")
def nir_file(tmp_path_factory):
    """A NIR file of a tiny hard-reset network (NIR has no soft reset)."""
    runs = tmp_path_factory.mktemp("nir") / "runs"
    assert_ok(cli("train", "--name", "h", "--runs", runs, "--arch", "mlp", "--set",
                  "data.limit=60", "--set", "model.hidden=[4]", "--set",
                  "model.neuron.reset=hard", "--epochs", "1", "-T", "2"))  # fmt: skip
    assert_ok(cli("fold", runs / "h"))
    assert_ok(cli("export", "nir", runs / "h"))
    return runs / "h" / "model.nir"


def _import(path, runs, *extra):
    return cli("import", "nir", path, "--dataset", "digits", "--runs", runs, *extra)


def test_a_good_nir_file_imports(nir_file, tmp_path):
    assert_ok(_import(nir_file, tmp_path, "--name", "ok"))
    assert (tmp_path / "ok" / "graph.float.npz").is_file()


def _huge(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("node/fc/weight", shape=(1 << 40,), dtype="f8", chunks=True)


def _weights_nan(path, src):
    path.write_bytes(src.read_bytes())
    with h5py.File(path, "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset)
                     and n.endswith("weight") else None)  # fmt: skip
        ds = f[names[0]]
        ds[...] = np.full(ds.shape, np.nan)


@pytest.mark.parametrize(
    "make,names",
    [
        (lambda p, s: _huge(p), ["8,796,093,022,208 bytes", "refused before reading"]),
        (lambda p, s: p.write_bytes(b"garbage"), ["not a readable NIR file"]),
        (lambda p, s: p.write_bytes(s.read_bytes()[:300]), ["not a readable NIR file"]),
        (lambda p, s: p.write_bytes(b""), ["not a readable NIR file"]),
        (lambda p, s: None, ["no such NIR file"]),
        (lambda p, s: p.mkdir(), ["no such NIR file"]),
        (_weights_nan, []),
    ],
    ids=["8-TiB-dataset", "garbage", "truncated", "empty", "missing", "directory", "nan-weights"],
)
def test_a_hostile_nir_file_is_refused_naming_it(nir_file, tmp_path, make, names):
    path = tmp_path / "m.nir"
    make(path, nir_file)
    assert_error(_import(path, tmp_path / "runs"), path, *names, rc=1)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    "extra,names,rc",
    [
        (["-T", "0"], ["argument -T/--T"], 2),
        (["--dt", "-1"], ["argument --dt"], 2),
        (["--dt", "0"], ["argument --dt"], 2),
        (["--dt", "nan"], ["argument --dt"], 2),
        (["--source", "tensorflow"], ["argument --source"], 2),
        (["--encoding", "morse"], ["argument --encoding"], 2),
        (["--name", ""], ["--name", "must not be empty"], 1),
        (["--name", "../escape"], ["--name", "not a run name"], 1),
        (["--name", "a/b"], ["--name", "not a run name"], 1),
    ],
    ids=["T-zero", "dt-negative", "dt-zero", "dt-nan", "source", "encoding", "name-empty",
         "name-updir", "name-slash"],
)  # fmt: skip
def test_a_bad_import_flag_is_named(nir_file, tmp_path, extra, names, rc):
    assert_error(_import(nir_file, tmp_path / "runs", *extra), *names, rc=rc)
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_import_dataset_and_runs_root_are_named(nir_file, tmp_path):
    res = cli("import", "nir", nir_file, "--dataset", "imagenet22k", "--runs", tmp_path)
    assert_error(res, "'imagenet22k'")
    res = cli("import", "nir", nir_file, "--dataset", "mnist", "--data-root", "5", "--runs",
              tmp_path)  # fmt: skip
    assert_error(res, "5", "mnist")
    f = tmp_path / "afile"
    f.write_text("x")
    assert_error(_import(nir_file, f), "--runs", f, "is a file")
    assert_error(cli("import", "nir", nir_file, "--runs", tmp_path), "--dataset", rc=2)


def test_import_into_an_existing_run_needs_overwrite(nir_file, tmp_path):
    assert_ok(_import(nir_file, tmp_path, "--name", "x"))
    before = snapshot(tmp_path / "x")
    assert_error(_import(nir_file, tmp_path, "--name", "x"), "already holds a run", "--overwrite")
    assert snapshot(tmp_path / "x") == before
