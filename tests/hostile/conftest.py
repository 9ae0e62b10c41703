"""Shared machinery of the hostile-input suite (issue 14).

Every case calls :func:`toolchain.cli.main` in-process (no subprocess: the suite stays fast)
and asserts the *class* of outcome: either a clear error — a non-zero exit status, exactly one
``error:`` line naming the flag, file, key, node or tensor, no traceback and no "internal
error" — or the correct result. One tiny trained, folded, quantised and exported run is built
once per test session (per xdist worker) and copied by the tests that may write.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from toolchain.cli import main

TINY = [
    "--dataset", "digits", "--set", "data.limit=120", "--arch", "mlp",
    "--set", "model.hidden=[8]", "--epochs", "1", "--batch-size", "40", "-T", "2",
]  # fmt: skip
TINIER = [
    "--arch",
    "mlp",
    "--set",
    "data.limit=60",
    "--set",
    "model.hidden=[4]",
    "--epochs",
    "1",
    "-T",
    "1",
]


@dataclass
class Result:
    rc: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if "error:" in line]


def cli(*argv) -> Result:
    """``spikefold ARGV`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # main() returns; a SystemExit would be a bug of the CLI
            rc = exc.code if isinstance(exc.code, int) else 2
    return Result(rc, out.getvalue(), err.getvalue())


def assert_error(res: Result, *names, rc: int | None = None) -> str:
    """A clear error: non-zero status (``rc`` when given), one ``error:`` line naming every
    one of ``names``, no traceback, not an internal error. Returns the line."""
    assert res.rc != 0, f"accepted silently (exit 0):\n{res.out}\n{res.err}"
    if rc is not None:
        assert res.rc == rc, (res.rc, res.err)
    assert "Traceback" not in res.err, res.err
    assert "internal error" not in res.err, res.err
    lines = res.error_lines
    assert len(lines) == 1, res.err
    for name in names:
        assert str(name) in lines[0], (str(name), lines[0])
    return lines[0]


def assert_ok(res: Result) -> None:
    assert res.rc == 0, f"exit {res.rc}:\n{res.out}\n{res.err}"
    assert "Traceback" not in res.err, res.err


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory and its bytes (to show a refused command changed
    nothing)."""
    return {p.name: p.read_bytes() for p in sorted(Path(run_dir).iterdir()) if p.is_file()}


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """A trained, folded, quantised, Lava- and ONNX-exported tiny run: ``RUNS/r``."""
    runs = tmp_path_factory.mktemp("hostile") / "runs"
    assert_ok(cli("train", "--name", "r", "--runs", runs, *TINY))
    run = runs / "r"
    for argv in (["fold", run], ["quantize", run], ["export", "lava", run],
                 ["export", "onnx", run]):  # fmt: skip
        assert_ok(cli(*argv))
    return run


@pytest.fixture
def run(built, tmp_path) -> Path:
    """A private copy of the built run (``TMP/runs/r``), free to change."""
    return shutil.copytree(built, tmp_path / "runs" / "r")
