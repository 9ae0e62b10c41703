"""docs/tutorial.md cannot rot: every command of its ``bash`` blocks runs, in order, in a fresh
directory holding the tutorial's config on tiny settings, and exits as the page says (0, or
the status its ``# exit N`` comment gives). The network keeps what the story depends on
(OSR+OTS convolutions with soft reset, so NIR refuses it; T = 2; online training); only its
width, data and epochs shrink, and a few flags keep Lava and the report short."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import yaml

from toolchain.chain import STAGES
from toolchain.cli import main

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
CONFIG = "configs/osr_ots_mnist5k.yaml"
RUN = "runs/osr_ots_mnist5k"

TINY = {"data": {"limit": 300}, "model": {"layers": [4, "M", 8, "M"]}, "train": {"epochs": 1}}
#: appended to a command's own flags (argparse keeps the last value of a repeated option)
FAST = {
    "run": ["--n", "40", "--lava-n", "2"],
    "verify": ["--n", "40"],
    "export lava": ["--n", "2"],
    "export onnx": ["--n", "40", "--reference-samples", "2"],
    "run-lava": ["--n", "2"],
    "report": ["--n", "40"],
}


def tutorial_commands(text: str) -> list[tuple[list[str], int]]:
    """``(argv, expected exit status)`` of every line of every ```` ```bash ```` block."""
    out = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if command.strip():
                status = re.search(r"\bexit (\d+)", comment)
                out.append((shlex.split(command), int(status.group(1)) if status else 0))
    return out


def _run(argv: list[str]) -> tuple[int, str]:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        code = main(argv)
    return code, buf.getvalue()


def _stage_status(output: str) -> dict[str, str]:
    """The last status each stage line of ``spikefold run`` gave (``ran``, ``skipped:``...)."""
    got = {}
    for line in output.splitlines():
        words = line.split()
        if len(words) > 1 and words[0] in STAGES and words[1] != "...":
            got[words[0]] = words[1].rstrip(":")
    return got


def test_the_tutorials_commands_run_in_order_and_exit_as_it_says(tmp_path, monkeypatch):
    commands = tutorial_commands(TUTORIAL.read_text(encoding="utf-8"))
    assert len(commands) >= 10 and all(argv[0] == "spikefold" for argv, _ in commands)
    raw = yaml.safe_load((ROOT / CONFIG).read_text())
    for section, values in TINY.items():
        raw[section].update(values)
    (tmp_path / "configs").mkdir()
    (tmp_path / CONFIG).write_text(yaml.safe_dump(raw))
    monkeypatch.chdir(tmp_path)

    outputs = []
    for argv, want in commands:
        key = " ".join(argv[1:3]) if argv[1] == "export" else argv[1]
        code, out = _run(argv[1:] + FAST.get(key, []))
        assert code == want, f"{shlex.join(argv)} exited {code}, the tutorial says {want}:\n{out}"
        outputs.append((argv, out))

    # sections 1 and 2: every stage runs, NIR is refused with its reason; then all are skipped
    (first_argv, first), (second_argv, second) = outputs[:2]
    assert first_argv == second_argv == ["spikefold", "run", CONFIG]
    assert _stage_status(first) == {**dict.fromkeys(STAGES, "ran"), "nir": "refused"}, first
    assert "soft reset" in first and f"report: {RUN}/report.html" in first
    assert _stage_status(second) == dict.fromkeys(STAGES, "skipped"), second
    # section 5: every NIR violation at once (both kinds, both layers); Lava's stock Conv
    nir = next(out for argv, out in outputs if argv[-2:] == ["--target", "nir"])
    for rule in ("hard_reset", "constant_threshold"):
        for layer in ("block1.lif", "block2.lif"):
            assert f"[{rule}] layer '{layer}'" in nir, nir
    lava = [out for argv, out in outputs if argv[-2:] == ["--target", "lava"]]
    assert "[conv_weight_exp] layer 'block1.conv'" in lava[0]
    assert "lava takes the network as it is" in lava[1]
    # sections 6 and 7: a verified Lava deployment, priced on the timing Lava runs
    verify = json.loads((tmp_path / RUN / "verify.json").read_text())
    assert all(verify["rungs"][r]["passed"] for r in ("0", "1", "2", "3")), verify["rungs"]
    assert verify["rungs"]["4"]["status"] == "refused" and verify["passed"]
    report = json.loads((tmp_path / RUN / "report.json").read_text())
    assert report["meta"]["timing"] == "lava" and list(report["timings"]) == ["lava", "ideal"]
    assert (tmp_path / RUN / "report.html").is_file()
