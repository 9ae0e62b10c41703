"""The CLI convention every subcommand shares (toolchain.console): --json, --version, light
--help, progress bars on stderr, exit statuses, errors that name what the user typed."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest

from hwsim.errors import ConfigError
from hwsim.verify import Divergence, LayerAgreement, RungResult
from toolchain import console
from toolchain.cli import COMMANDS, main
from toolchain.commands.export import TARGETS

HEAVY = ("torch", "lava", "onnx", "onnxruntime", "nir", "norse", "matplotlib", "scipy")

_PROBE = """
import json, sys
from toolchain.cli import build_parser
argv = sys.argv[1:]
parser = build_parser(argv)
sub = parser._subparsers._group_actions[0].choices[argv[0]]
if len(argv) > 1:
    sub = sub._subparsers._group_actions[0].choices[argv[1]]
text = sub.format_help()
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.stdin.read())))
print(json.dumps({"heavy": heavy, "json": "--json" in text, "progress": "--no-progress" in text}))
"""


@pytest.mark.parametrize(
    "argv", [[c] for c in COMMANDS if c != "export"] + [["export", t] for t in TARGETS]
)
def test_help_of_every_command_imports_nothing_heavy_and_offers_json(argv):
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        input=json.dumps(HEAVY),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    got = json.loads(out)
    assert got == {"heavy": [], "json": True, "progress": True}, argv


def test_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"spikefold {version('spikefold')}"


def test_emit_prints_text_or_json_and_maps_ok_to_the_exit_status(capsys):
    out = console.Outcome({"a": 1}, "one line", ok=False)
    assert console.emit(argparse.Namespace(), out) == console.EXIT_FAILED
    assert capsys.readouterr().out == "one line\n"
    assert console.emit(argparse.Namespace(json=True), console.Outcome({"a": 1}, "x")) == 0
    assert json.loads(capsys.readouterr().out) == {"a": 1}
    console.say(argparse.Namespace(json=True), "working")  # keeps stdout parseable
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "working\n"


def test_errors_are_one_line_traceback_only_with_debug_and_ctrl_c_is_130(capsys):
    def fails(args):
        raise ConfigError("--n names the flag")

    assert console.run_command("spikefold x", argparse.Namespace(), fails) == 1
    err = capsys.readouterr().err
    assert err == "spikefold x: error: --n names the flag\n"
    assert console.run_command("spikefold x", argparse.Namespace(debug=True), fails) == 1
    assert "Traceback" in capsys.readouterr().err

    def interrupted(args):
        raise KeyboardInterrupt

    assert console.run_command("spikefold x", argparse.Namespace(), interrupted) == 130


def test_progress_bars_are_off_unless_stderr_is_a_terminal(monkeypatch, capsys):
    args = argparse.Namespace()
    assert not console.progress_enabled(args)  # pytest captures stderr: not a terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert console.progress_enabled(args)
    assert not console.progress_enabled(argparse.Namespace(no_progress=True))
    for _ in console.bar(range(3), enabled=True, desc="work"):
        pass
    captured = capsys.readouterr()
    assert "work" in captured.err and captured.out == ""


def test_flag_types_name_the_flag(capsys):
    assert main(["verify", "runs/x", "--n", "-3"]) == 2
    assert "argument --n: must be an integer >= 1, got -3" in capsys.readouterr().err
    assert main(["report", "runs/x", "--lava-samples", "ten"]) == 2
    assert "argument --lava-samples: expected an integer, got 'ten'" in capsys.readouterr().err
    assert main(["check", "runs/x", "--target", "tpu"]) == 2
    assert "argument --target: invalid choice: 'tpu'" in capsys.readouterr().err


def test_a_pass_line_never_prints_a_first_divergence():
    div = Divergence("lif1", 1, 0, (3,), 1.0, 0.0, 1.0, 1.0, 0.0)
    layers = {"lif1": LayerAgreement(10, 1, 0, 3, 2)}
    passed = RungResult(1, "float ↔ fixed", True, layers, first_divergence=div)
    failed = RungResult(1, "float ↔ fixed", False, layers, first_divergence=div)
    assert "first divergence" not in passed.summary() and "PASS" in passed.summary()
    assert "first divergence: lif1 step 1 sample 0" in failed.summary()


def test_a_misspelt_model_option_suggests_the_close_one_not_every_option(tmp_path, capsys):
    argv = ["train", "--arch", "mlp", "--set", "model.hiden=[16]", "--runs", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unknown option(s) ['hiden']; did you mean 'hidden'?" in err
    assert "'bias'" not in err and "in_shape" not in err and "num_classes" not in err
    assert not list(tmp_path.iterdir())  # refused before the run directory was made
    # nothing close: the valid options, still not the ones the dataset fills in
    argv = ["train", "--arch", "mlp", "--set", "model.colour=1", "--runs", str(tmp_path)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unknown option(s) ['colour']; valid: ['T', 'bias', 'hidden', 'init'" in err
    assert "in_shape" not in err and "num_classes" not in err


def test_a_file_dataset_without_its_directory_names_data_root(tmp_path, capsys):
    graph = tmp_path / "g.npz"
    _tiny_graph(graph)
    assert main(["simulate", str(graph), "--dataset", "mnist"]) == 1
    assert "--data-root DIR" in capsys.readouterr().err


def _tiny_graph(path):
    from hwsim.graph import LIF, Dense, GraphMetadata, HardwareGraph, Input, Readout
    from hwsim.io import save_graph

    nodes = {
        "x": Input((64,), "direct"),
        "d": Dense(np.ones((10, 64))),
        "l": LIF(0.5, 1.0, "hard"),
        "r": Dense(np.ones((10, 10))),
        "o": Readout(),
    }
    edges = [("x", "d"), ("d", "l"), ("l", "r"), ("r", "o")]
    save_graph(HardwareGraph(nodes, edges, GraphMetadata(T=2)), path)
