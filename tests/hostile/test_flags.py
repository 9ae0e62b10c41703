"""Hostile flags on every subcommand (issue 14): negative or zero counts, out-of-range widths,
unknown choices, output paths in missing directories or naming directories, paths that are
files where directories are expected (and the reverse). Each is refused with one line naming
the flag or the path, before any work; nothing in the run changes."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import assert_error, cli, snapshot

# (id, argv with {run} for the run directory, names, exit status); argparse refusals are 2
BAD = [
    ("verify-n-zero", ["verify", "{run}", "--n", "0"], ["argument --n", ">= 1"], 2),
    ("verify-n-negative", ["verify", "{run}", "--n", "-3"], ["argument --n", "-3"], 2),
    ("verify-n-word", ["verify", "{run}", "--n", "all"], ["argument --n", "'all'"], 2),
    ("verify-rungs-7", ["verify", "{run}", "--rungs", "7"], ["argument --rungs"], 2),
    ("verify-rungs-word", ["verify", "{run}", "--rungs", "x"], ["argument --rungs"], 2),
    ("verify-batch-zero", ["verify", "{run}", "--batch-size", "0"], ["argument --batch-size"], 2),
    ("simulate-n-zero", ["simulate", "{run}/graph.fixed.npz", "--n", "0"], ["argument --n"], 2),
    ("simulate-n-negative", ["simulate", "{run}/graph.fixed.npz", "--n", "-1"], ["argument --n"],
     2),
    ("simulate-batch-negative", ["simulate", "{run}/graph.fixed.npz", "--batch-size", "-5"],
     ["argument --batch-size"], 2),
    ("simulate-timing", ["simulate", "{run}/graph.fixed.npz", "--timing", "warp"],
     ["argument --timing"], 2),
    ("simulate-nproc-zero", ["simulate", "{run}/graph.fixed.npz", "--nproc", "0"],
     ["argument --nproc"], 2),
    ("report-n-negative", ["report", "{run}", "--n", "-1"], ["argument --n"], 2),
    ("report-n-zero", ["report", "{run}", "--n", "0"], ["argument --n"], 2),
    ("report-lava-samples", ["report", "{run}", "--lava-samples", "-1"],
     ["argument --lava-samples"], 2),
    ("report-graph", ["report", "{run}", "--graph", "both"], ["argument --graph"], 2),
    ("report-timing", ["report", "{run}", "--timing", "now"], ["argument --timing"], 2),
    ("export-onnx-reference", ["export", "onnx", "{run}", "--reference-samples", "-1"],
     ["argument --reference-samples", ">= 0"], 2),
    ("export-onnx-n", ["export", "onnx", "{run}", "--n", "0"], ["argument --n"], 2),
    ("export-onnx-format", ["export", "onnx", "{run}", "--format", "int4"],
     ["argument --format"], 2),
    ("export-lava-n", ["export", "lava", "{run}", "--n", "-4"], ["argument --n"], 2),
    ("export-nir-n", ["export", "nir", "{run}", "--n", "0"], ["argument --n"], 2),
    ("export-nir-dt-zero", ["export", "nir", "{run}", "--dt", "0"], ["argument --dt", "> 0"], 2),
    ("export-nir-dt-nan", ["export", "nir", "{run}", "--dt", "nan"], ["argument --dt"], 2),
    ("export-target", ["export", "tflite", "{run}"], ["argument TARGET"], 2),
    ("run-lava-n-zero", ["run-lava", "{run}", "--n", "0"], ["argument --n"], 2),
    ("run-lava-chunk", ["run-lava", "{run}", "--chunk", "0"], ["argument --chunk"], 2),
    ("quantize-bits-negative", ["quantize", "{run}", "--weight-bits", "-3"],
     ["argument --weight-bits"], 2),
    ("quantize-bits-1", ["quantize", "{run}", "--weight-bits", "1"],
     ["argument --weight-bits", "[2, 8]"], 2),
    ("quantize-bits-9", ["quantize", "{run}", "--weight-bits", "9"],
     ["argument --weight-bits", "[2, 8]"], 2),
    ("quantize-bits-word", ["quantize", "{run}", "--weight-bits", "eight"],
     ["argument --weight-bits"], 2),
    ("quantize-payload", ["quantize", "{run}", "--payload-bits", "25"],
     ["argument --payload-bits", "[1, 24]"], 2),
    ("quantize-payload-zero", ["quantize", "{run}", "--payload-bits", "0"],
     ["argument --payload-bits"], 2),
    ("quantize-input-zero", ["quantize", "{run}", "--input-bits", "0"],
     ["argument --input-bits"], 2),
    ("quantize-calib-zero", ["quantize", "{run}", "--calib-samples", "0"],
     ["argument --calib-samples"], 2),
    ("quantize-target", ["quantize", "{run}", "--target", "tpu"], ["argument --target"], 2),
    ("fold-ei-floor-negative", ["fold", "{run}", "--ei-floor", "-0.1"],
     ["argument --ei-floor", "[0, 1]"], 2),
    ("fold-ei-floor-big", ["fold", "{run}", "--ei-floor", "1.5"], ["argument --ei-floor"], 2),
    ("fold-ei-floor-nan", ["fold", "{run}", "--ei-floor", "nan"], ["argument --ei-floor"], 2),
    ("check-target", ["check", "{run}", "--target", "tpu"], ["argument --target"], 2),
    ("check-no-target", ["check", "{run}"], ["--target"], 2),
    ("inspect-graph", ["inspect", "{run}", "--graph", "int"], ["argument --graph"], 2),
    ("inspect-timing", ["inspect", "{run}", "--timing", "now"], ["argument --timing"], 2),
    ("run-targets", ["run", "{run}", "--targets", "tflite"], ["argument --targets"], 2),
    ("run-targets-empty", ["run", "{run}", "--targets", ","], ["argument --targets"], 2),
    ("run-until", ["run", "{run}", "--until", "deploy"], ["argument --until"], 2),
    ("run-weight-bits", ["run", "{run}", "--weight-bits", "0"], ["argument --weight-bits"], 2),
    ("run-n", ["run", "{run}", "--n", "-1"], ["argument --n"], 2),
    ("run-lava-n", ["run", "{run}", "--lava-n", "0"], ["argument --lava-n"], 2),
    ("unknown-flag", ["fold", "{run}", "--bogus"], ["unrecognized arguments: --bogus"], 2),
    ("unknown-command", ["deploy", "{run}"], ["argument COMMAND"], 2),
    ("fold-ei-floor-plain-net", ["fold", "{run}", "--ei-floor", "0.1"],
     ["--ei-floor 0.1", "no divisive E-I circuit"], 1),
    ("report-models", ["report", "{run}", "--models", "gpu"], ["'gpu'", "price model"], 1),
    ("report-table-missing", ["report", "{run}", "--table", "{tmp}/none.toml"], ["none.toml"], 1),
    ("report-table-garbage", ["report", "{run}", "--table", "{tmp}/garbage.toml"],
     ["garbage.toml"], 1),
    ("simulate-dataset", ["simulate", "{run}/graph.fixed.npz", "--dataset", "imagenet"],
     ["'imagenet'"], 1),
    ("simulate-mnist-no-root", ["simulate", "{run}/graph.fixed.npz", "--dataset", "mnist"],
     ["--data-root"], 1),
    ("simulate-data-root-file", ["simulate", "{run}/graph.fixed.npz", "--dataset", "mnist",
                                 "--data-root", "{tmp}/garbage.toml"], ["garbage.toml"], 1),
    ("simulate-timing-ideal-of-lava", ["simulate", "{tmp}/lava.npz", "--timing", "ideal"],
     ["lava.npz", "lava-timed"], 1),
]  # fmt: skip


def _argv(argv, run, tmp):
    return [a.replace("{run}", str(run)).replace("{tmp}", str(tmp)) for a in argv]


@pytest.mark.parametrize("argv,names,rc", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_flag_is_refused_naming_it_and_nothing_changes(run, tmp_path, argv, names, rc):
    (tmp_path / "garbage.toml").write_bytes(b"\x00\xff not toml = = =")
    if any("{tmp}/lava.npz" in a for a in argv):
        from hwsim.io import load_graph, save_graph
        from toolchain.fold import to_lava_timing

        save_graph(to_lava_timing(load_graph(run / "graph.fixed.npz")), tmp_path / "lava.npz")
    before = snapshot(run)
    names = [n.replace("{tmp}", str(tmp_path)) for n in names]
    assert_error(cli(*_argv(argv, run, tmp_path)), *names, rc=rc)
    after = snapshot(run)
    after.pop(".lock", None), before.pop(".lock", None)
    assert after == before


# output and input paths: (id, argv, names)
PATHS = [
    ("lava-out-missing-dir", ["export", "lava", "{run}", "--out", "{tmp}/missing/m.json"],
     ["--out", "{tmp}/missing", "does not exist"]),
    ("lava-out-directory", ["export", "lava", "{run}", "--out", "{tmp}"],
     ["--out", "names a directory"]),
    ("lava-out-under-file", ["export", "lava", "{run}", "--out", "{tmp}/afile/m.json"],
     ["--out", "is a file"]),
    ("onnx-out-missing-dir", ["export", "onnx", "{run}", "--graph", "{run}/graph.fixed.npz",
                              "--out", "{tmp}/missing/m.onnx"], ["--out", "does not exist"]),
    ("onnx-out-directory", ["export", "onnx", "{run}", "--graph", "{run}/graph.fixed.npz",
                            "--out", "{tmp}/"], ["--out", "names a directory"]),
    ("nir-out-missing-dir", ["export", "nir", "{run}", "--out", "{tmp}/missing/m.nir"],
     ["--out", "does not exist"]),
    ("nir-out-directory", ["export", "nir", "{run}", "--out", "{tmp}"], ["--out", "directory"]),
    ("lava-graph-missing", ["export", "lava", "{run}", "--graph", "{tmp}/none.npz"],
     ["{tmp}/none.npz"]),
    ("lava-graph-garbage", ["export", "lava", "{run}", "--graph", "{tmp}/afile"],
     ["{tmp}/afile"]),
    ("check-graph-garbage", ["check", "{run}", "--target", "lava", "--graph", "{tmp}/afile"],
     ["{tmp}/afile", "not a readable spikefold graph"]),
    ("check-graph-directory", ["check", "{run}", "--target", "lava", "--graph", "{tmp}"],
     ["{tmp}", "is a directory"]),
    ("simulate-missing", ["simulate", "{tmp}/none.npz"], ["{tmp}/none.npz", "no such graph"]),
    ("simulate-directory", ["simulate", "{tmp}"], ["{tmp}"]),
    ("simulate-garbage", ["simulate", "{tmp}/afile"], ["{tmp}/afile"]),
    ("inspect-missing", ["inspect", "{tmp}/none.npz"], ["{tmp}/none.npz"]),
    ("inspect-garbage", ["inspect", "{tmp}/afile"], ["{tmp}/afile"]),
    ("inspect-empty-dir", ["inspect", "{tmp}/emptydir"], ["{tmp}/emptydir"]),
    ("inspect-graph-on-file", ["inspect", "{run}/graph.fixed.npz", "--graph", "float"],
     ["--graph float"]),
    ("run-lava-spec-missing", ["run-lava", "{run}", "--spec", "{tmp}/none.json"],
     ["{tmp}/none.json"]),
    ("run-lava-spec-garbage", ["run-lava", "{run}", "--spec", "{tmp}/afile"], ["{tmp}/afile"]),
    ("run-lava-spec-directory", ["run-lava", "{run}", "--spec", "{tmp}"], ["{tmp}"]),
]  # fmt: skip


@pytest.mark.parametrize("argv,names", [c[1:] for c in PATHS], ids=[c[0] for c in PATHS])
def test_a_bad_path_is_named(run, tmp_path, argv, names):
    (tmp_path / "afile").write_bytes(b"\x00garbage")
    (tmp_path / "emptydir").mkdir()
    before = snapshot(run)
    names = [n.replace("{tmp}", str(tmp_path)).replace("{run}", str(run)) for n in names]
    assert_error(cli(*_argv(argv, run, tmp_path)), *names, rc=1)
    assert snapshot(run) == before


# RUN_DIR arguments that are not run directories, on every command that takes one
RUN_COMMANDS = [
    ["fold"], ["quantize"], ["verify"], ["export", "lava"], ["export", "onnx"],
    ["export", "nir"], ["report"], ["run-lava"], ["check", "--target", "lava"], ["inspect"],
    ["run"],
]  # fmt: skip


@pytest.mark.parametrize("cmd", RUN_COMMANDS, ids=lambda c: "-".join(c[:2]))
@pytest.mark.parametrize("what", ["missing", "file", "empty"])
def test_a_run_dir_that_is_no_run_is_named(tmp_path, cmd, what):
    path = {"missing": tmp_path / "none", "file": tmp_path / "afile", "empty": tmp_path / "e"}[what]
    if what == "file":
        path.write_text("x")
    elif what == "empty":
        path.mkdir()
    argv = [*cmd[:2], path, *cmd[2:]] if cmd[0] == "check" else [*cmd, path]
    if cmd[0] == "check":
        argv = ["check", path, "--target", "lava"]
    assert_error(cli(*argv), path, rc=1)
    if what == "missing":
        assert not path.exists()  # a refused command leaves no directory behind


def test_the_width_flags_follow_the_hardware_specification():
    from hwsim import arith
    from toolchain import console

    assert console.WEIGHT_BITS == arith.WEIGHT_BITS_RANGE
    assert console.PAYLOAD_BITS == (1, arith.PAYLOAD_BITS_MAX)
    assert console.INPUT_BITS == (1, arith.ACC_BITS)
