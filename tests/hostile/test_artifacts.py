"""Corrupt, truncated, forged and tampered artifacts (issue 14): every file spikefold reads is
validated — against the graph IR's rules (widths, signs, thresholds, shapes) where it is a
network — before anything runs or is allocated, and refused with one line naming the file and
the member, node, process or key."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from hwsim.errors import ExportError, GraphError
from hwsim.io import load_graph
from tests.hostile.conftest import assert_error, cli

# ------------------------------------------------------------------------------------------
# hardware graphs (.npz)


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def _forged_header(shape, descr="<f8", payload=64) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue() + b"\0" * payload


def _header(members) -> dict:
    return json.loads(np.load(io.BytesIO(members["__header__.npy"])).tobytes())


def _with_header(members, header) -> dict:
    out = dict(members)
    raw = np.frombuffer(json.dumps(header).encode(), np.uint8)
    out["__header__.npy"] = _npy(raw)
    return out


def _first(header, kind):
    return next(n for n in header["graph"]["nodes"].values() if n["kind"] == kind)


def _tamper(kind):
    """A function (members -> members) changing one thing of a graph file."""

    def huge(m):
        m = dict(m)
        m["a0.npy"] = _forged_header((1 << 40,))  # 8 TiB of float64
        return m

    def declares_more(m):
        m = dict(m)
        m["a0.npy"] = _forged_header((1000, 1000), payload=80)
        return m

    def pickled(m):
        m = dict(m)
        m["a0.npy"] = _npy(np.array([{"x": 1}], dtype=object))
        return m

    def header_not_json(m):
        m = dict(m)
        m["__header__.npy"] = _npy(np.frombuffer(b"{not json", np.uint8))
        return m

    def header_huge(m):
        m = dict(m)
        m["__header__.npy"] = _forged_header((1 << 36,), descr="|u1")
        return m

    def extra_member(m):
        return {**m, "evil.txt": b"hello"}

    def no_header(m):
        return {k: v for k, v in m.items() if k != "__header__.npy"}

    def missing_array(m):
        return {k: v for k, v in m.items() if k != "a0.npy"}

    def wrong_magic(m):
        h = _header(m)
        h["magic"] = "something-else"
        return _with_header(m, h)

    def newer_schema(m):
        h = _header(m)
        h["schema_version"] = 99
        return _with_header(m, h)

    def negative_threshold(m):
        h = _header(m)
        _first(h, "LIF")["threshold"] = -1.0
        return _with_header(m, h)

    def zero_threshold(m):
        h = _header(m)
        _first(h, "LIF")["threshold"] = 0.0
        return _with_header(m, h)

    def unknown_kind(m):
        h = _header(m)
        _first(h, "LIF")["kind"] = "Transformer"
        return _with_header(m, h)

    def decay_out_of_range(m):
        h = _header(m)
        _first(h, "LIF")["decay"] = 7.0
        return _with_header(m, h)

    def dangling_edge(m):
        h = _header(m)
        h["graph"]["edges"].append(["nowhere", "output"])
        return _with_header(m, h)

    def reset_unknown(m):
        h = _header(m)
        _first(h, "LIF")["reset"] = "sideways"
        return _with_header(m, h)

    def string_T(m):
        h = _header(m)
        h["graph"]["metadata"]["T"] = "four"
        return _with_header(m, h)

    def wrong_weight_shape(m):
        h = _header(m)
        ref = _first(h, "Dense")["weight"]["$array"]
        m = _with_header(m, h)
        m[f"{ref}.npy"] = _npy(np.zeros((3, 3), np.float32))
        return m

    return locals()[kind]


TAMPERS = [
    ("huge", ["a0.npy", "8,796,093,022,208 bytes", "before reading"]),
    ("declares_more", ["a0.npy", "forged or truncated"]),
    ("pickled", ["a0.npy", "object dtype"]),
    ("header_not_json", ["corrupt header"]),
    ("header_huge", ["__header__.npy", "beyond the limit"]),
    ("extra_member", ["evil.txt", "not a .npy"]),
    ("no_header", ["no __header__ member"]),
    ("missing_array", ["missing array 'a0'"]),
    ("wrong_magic", ["not a spikefold graph file"]),
    ("newer_schema", ["schema version 99"]),
    ("negative_threshold", ["threshold", "> 0"]),
    ("zero_threshold", ["threshold", "> 0"]),
    ("unknown_kind", ["unknown node kind 'Transformer'"]),
    ("decay_out_of_range", ["decay=7.0"]),
    ("dangling_edge", ["'nowhere'"]),
    ("reset_unknown", ["'sideways'"]),
    ("string_T", ["metadata.T"]),
    ("wrong_weight_shape", ["node"]),
]


@pytest.mark.parametrize("kind,names", TAMPERS, ids=[t[0] for t in TAMPERS])
@pytest.mark.parametrize("cmd", ["simulate", "inspect", "check"])
def test_a_forged_graph_file_is_refused_before_it_runs(built, tmp_path, kind, names, cmd):
    src = built / ("graph.float.npz" if "threshold" in kind or "decay" in kind else
                   "graph.fixed.npz")  # fmt: skip
    path = tmp_path / "g.npz"
    _write(path, _tamper(kind)(_members(src)))
    argv = {"simulate": ["simulate", path, "--n", "4"], "inspect": ["inspect", path],
            "check": ["check", built, "--target", "hwsim", "--graph", path]}[cmd]  # fmt: skip
    assert_error(cli(*argv), path, *names, rc=1)


def test_an_8_tib_array_is_refused_without_allocating(built, tmp_path, monkeypatch):
    """issue 14: an npz declaring an 8 TiB array gave a raw traceback (MemoryError)."""
    path = tmp_path / "huge.npz"
    _write(path, _tamper("huge")(_members(built / "graph.fixed.npz")))

    def no_allocation(*a, **k):
        raise AssertionError("numpy read an array of a refused file")

    monkeypatch.setattr(np.lib.format, "read_array", no_allocation)
    with pytest.raises(GraphError, match="beyond the limit"):
        load_graph(path)


@pytest.mark.parametrize("cut", [0, 10, 100, 0.5, -10])
def test_a_truncated_graph_file_is_named(built, tmp_path, cut):
    data = (built / "graph.fixed.npz").read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    path = tmp_path / "t.npz"
    path.write_bytes(data[:n])
    assert_error(cli("inspect", path), path, rc=1)


# ------------------------------------------------------------------------------------------
# Lava process graphs (model.lava.json)


def _lava(built) -> dict:
    return json.loads((built / "model.lava.json").read_text())


def _proc(d, role):
    return next(p for p in d["processes"].values() if p["role"] == role)


def _lava_tamper(kind, d):
    syn, neu = _proc(d, "synapse")["params"], _proc(d, "neuron")["params"]
    if kind == "weight_1e6":
        syn["weights"]["$array"]["data"][0] = 10**6
    elif kind == "weight_nan":
        syn["weights"]["$array"]["data"][0] = float("nan")
    elif kind == "weight_fraction":
        syn["weights"]["$array"]["data"][0] = 0.5
    elif kind == "weight_exp":
        syn["weight_exp"] = 40
    elif kind == "vth_negative":
        neu["vth"]["$array"]["data"] = [-5] * len(neu["vth"]["$array"]["data"])
    elif kind == "vth_zero":
        neu["vth"]["$array"]["data"] = [0] * len(neu["vth"]["$array"]["data"])
    elif kind == "vth_huge":
        neu["vth"]["$array"]["data"] = [1 << 30] * len(neu["vth"]["$array"]["data"])
    elif kind == "decay":
        neu["decay"] = 99999
    elif kind == "bias":
        neu["bias"]["$array"]["data"][0] = 1 << 40
    elif kind == "magic":
        d["magic"] = "not-lava"
    elif kind == "version":
        d["version"] = 7
    elif kind == "no_processes":
        del d["processes"]
    elif kind == "dangling":
        d["connections"][0]["dst"] = ["nowhere", "a_in"]
    elif kind == "T_zero":
        d["T"] = 0
    elif kind == "format":
        d["format"] = "int4"
    elif kind == "unknown_kind":
        _proc(d, "synapse")["kind"] = "os.system"
    return d


LAVA = [
    ("weight_1e6", ["process 'm1'", "weights", "outside [-256, 256]"]),
    ("weight_nan", ["process 'm1'", "weights", "NaN"]),
    ("weight_fraction", ["process 'm1'", "weights", "non-integers"]),
    ("weight_exp", ["weight_exp", "outside"]),
    ("vth_negative", ["vth", "> 0"]),
    ("vth_zero", ["vth", "> 0"]),
    ("vth_huge", ["vth"]),
    ("decay", ["decay"]),
    ("bias", ["bias"]),
    ("magic", ["magic"]),
    ("version", ["version 7"]),
    ("no_processes", ["malformed", "processes"]),
    ("dangling", ["'nowhere'"]),
    ("T_zero", ["T=0"]),
    ("format", ["'int4'"]),
    ("unknown_kind", ["unknown Lava process kind 'os.system'"]),
]


@pytest.mark.parametrize("kind,names", LAVA, ids=[t[0] for t in LAVA])
def test_a_tampered_lava_spec_is_refused_before_lava_runs(built, tmp_path, kind, names):
    """issue 14: model.lava.json with a synapse weight of 10^6 ran without a word, a
    negative LIF threshold simulated."""
    path = tmp_path / "m.lava.json"
    path.write_text(json.dumps(_lava_tamper(kind, _lava(built))))
    res = cli("run-lava", built, "--spec", path, "--n", "2")
    assert_error(res, path, *names, rc=1)


@pytest.mark.parametrize(
    "content", [b"", b"{", b"[1, 2]", b"\xff\xfe", b"null", b'"text"'], ids=repr
)
def test_an_unreadable_lava_spec_is_named(built, tmp_path, content):
    path = tmp_path / "m.lava.json"
    path.write_bytes(content)
    assert_error(cli("run-lava", built, "--spec", path, "--n", "2"), path, rc=1)


def test_the_tampered_spec_inside_the_run_is_refused_as_changed(run):
    """In the run directory the tampering is caught first as a changed artifact."""
    path = run / "model.lava.json"
    path.write_text(json.dumps(_lava_tamper("weight_1e6", json.loads(path.read_text()))))
    assert_error(cli("run-lava", run, "--n", "2"), path, "is stale", "was changed after")
    (run / "provenance.json").unlink()  # no history: then the IR's rules refuse it
    assert_error(cli("run-lava", run, "--n", "2"), path, "weights", "outside")


# ------------------------------------------------------------------------------------------
# JSON artifacts and the run's own files, without provenance (its own check comes first)


@pytest.mark.parametrize(
    "content,names",
    [(b'{"probes": ', ["corrupt"]), (b"[1]", ["corrupt", "expected dict"]),
     (b'{"probes": [1]}', ["probes"]), (b'{"probes": {"nowhere": "1"}}', ["probes"]),
     (b"\xff", ["corrupt"])],
    ids=["truncated", "list", "probes-list", "probes-unknown-node", "binary"],
)  # fmt: skip
def test_a_corrupt_fold_json_is_named(run, content, names):
    """issue 14: a corrupt fold.json gave a raw traceback."""
    (run / "provenance.json").unlink()
    (run / "fold.json").write_bytes(content)
    assert_error(cli("verify", run, "--n", "4", "--rungs", "0"), run / "fold.json", *names)


def test_a_corrupt_fold_json_with_provenance_is_stale(run):
    (run / "fold.json").write_text("{")
    assert_error(cli("verify", run, "--n", "4"), run / "fold.json", "is stale")


@pytest.mark.parametrize(
    "name,content",
    [("provenance.json", b"{not json"), ("provenance.json", b'{"schema": 9}'),
     ("provenance.json", b"[]"), ("verify.json", b"{"), ("verify.json", b'{"rungs": 3}')],
)  # fmt: skip
def test_a_corrupt_manifest_or_verify_json_is_named(run, name, content):
    (run / name).write_bytes(content)
    cmd = ["report", run, "--n", "4"] if name == "verify.json" else ["quantize", run]
    if name == "verify.json":
        (run / "provenance.json").unlink()
    assert_error(cli(*cmd), run / name, rc=1)


@pytest.mark.parametrize(
    "content",
    [b"train: {epochs: 1}\ntrain: {epochs: 2}\n", b"\x00\xff", b"train: [1]\n", b""],
    ids=["duplicate", "binary", "list", "empty"],
)
def test_a_corrupt_run_config_is_named(run, content):
    (run / "provenance.json").unlink()
    (run / "config.yaml").write_bytes(content)
    res = cli("fold", run)
    if content == b"":  # an empty config is the defaults: not this checkpoint's model
        assert_error(res, "checkpoint.pt", "does not match")
    else:
        assert_error(res, run / "config.yaml", rc=1)


@pytest.mark.parametrize("content", [b"", b"garbage", b"PK\x03\x04trunc"], ids=repr)
def test_a_corrupt_checkpoint_is_named(run, content):
    (run / "provenance.json").unlink()
    (run / "checkpoint.pt").write_bytes(content)
    assert_error(cli("fold", run), run / "checkpoint.pt", "not a readable spikefold checkpoint")


def test_a_malicious_pickle_checkpoint_is_refused(run):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (run / "provenance.json").unlink()
    (run / "checkpoint.pt").write_bytes(pickle.dumps({"model": Evil()}))
    res = cli("fold", run)
    assert_error(res, run / "checkpoint.pt")
    assert "pwned" not in res.out


# ------------------------------------------------------------------------------------------
# ONNX and NIR files (Python entry points: the importers every runner uses)


@pytest.mark.parametrize("content", [b"", b"\x00garbage", b"\x08\x07\x12"], ids=repr)
def test_a_corrupt_onnx_file_is_named(tmp_path, content):
    from exporters.onnx import import_onnx

    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    with pytest.raises(ExportError, match=str(path)):
        import_onnx(path)


def test_a_tampered_onnx_model_is_refused_naming_it(built, tmp_path):
    import onnx

    from exporters.onnx import import_onnx

    model = onnx.load(str(built / "model.fixed.onnx"))
    model.metadata_props[0].value = "{not json"
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ExportError, match="metadata"):
        import_onnx(path)


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\ntruncated", b"garbage"], ids=repr)
def test_a_corrupt_nir_file_is_named(tmp_path, content):
    from exporters.nir_export import read_nir

    path = tmp_path / "m.nir"
    path.write_bytes(content)
    with pytest.raises(ExportError, match=str(path)):
        read_nir(path)
