"""spikefold inspect: the node table of a graph file or of a run directory's graph, as text and
as JSON, in Lava's timing on request; errors naming the argument; no torch import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hwsim.arith import FixedWidths
from hwsim.graph import LIF, Dense, Flatten, GraphMetadata, HardwareGraph, Input, Readout
from hwsim.io import save_graph
from toolchain.cli import main


def _graph(fmt: str = "float32") -> HardwareGraph:
    dt = np.float32 if fmt == "float32" else np.int64
    nodes = {"x": Input((1, 2, 2), "rate"), "flat": Flatten(), "fc1": Dense(np.ones((5, 4), dt)),
             "lif": LIF(0.5 if fmt == "float32" else 2048, 1.0 if fmt == "float32" else 64),
             "fc2": Dense(np.ones((3, 5), dt)), "out": Readout()}  # fmt: skip
    names = list(nodes)
    widths = FixedWidths() if fmt == "fixed" else None
    md = GraphMetadata(T=4, format=fmt, widths=widths)
    return HardwareGraph(nodes, list(zip(names, names[1:])), md)


@pytest.fixture
def run_dir(tmp_path):
    save_graph(_graph(), tmp_path / "graph.float.npz")
    save_graph(_graph("fixed"), tmp_path / "graph.fixed.npz")
    return tmp_path


def test_inspect_a_run_directory_and_a_file(run_dir, capsys):
    assert main(["inspect", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "graph.fixed.npz" in out and "fixed (8-bit weights)" in out
    assert "8-bit w" in out and "parameters: 37" in out  # weights 20 + 15, decay and θ
    assert main(["inspect", str(run_dir), "--graph", "float", "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert js["file"].endswith("graph.float.npz") and js["metadata"]["format"] == "float32"
    assert [n["name"] for n in js["nodes"]] == ["x", "flat", "fc1", "lif", "fc2", "out"]
    assert js["parameters"] == 20 + 2 + 15 and js["edges"][0] == ["x", "flat"]
    assert main(["inspect", str(run_dir / "graph.float.npz"), "--timing", "lava", "--json"]) == 0
    lava = json.loads(capsys.readouterr().out)
    assert [n["offset"] for n in lava["nodes"]] == [0, 0, 1, 1, 2, 2]


def test_inspect_errors_name_the_argument(run_dir, tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "nope")]) == 1
    assert "no such graph file or run directory" in capsys.readouterr().err
    assert main(["inspect", str(run_dir / "graph.float.npz"), "--graph", "fixed"]) == 1
    assert "--graph fixed" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["inspect", str(tmp_path / "empty")]) == 1
    assert "spikefold fold" in capsys.readouterr().err


def test_inspect_imports_no_torch(run_dir):
    code = ("import sys; from toolchain.cli import main; "
            f"assert main(['inspect', {str(run_dir)!r}]) == 0; "
            "assert 'torch' not in sys.modules, 'torch imported'")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
