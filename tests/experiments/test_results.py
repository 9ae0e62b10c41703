"""The results generator: committed documents are its output; quick mode renders into tmp_path."""

import json
from pathlib import Path

import pytest

from experiments import all as gen
from experiments.results import REGION, regions, rewrite
from hwsim.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_rewrite_replaces_only_marked_bodies():
    text = (
        "intro\n<!-- results: a.t -->\nold a\n<!-- /results: a.t -->\nmiddle\n"
        "<!-- results: b.t -->\nold b\n<!-- /results: b.t -->\nend\n"
    )
    new, done = rewrite(text, {"a.t": "new a\n| x |"})
    assert done == {"a.t"}
    assert new == text.replace("old a\n", "new a\n| x |\n")
    assert regions(new) == {"a.t": "new a\n| x |\n", "b.t": "old b\n"}
    with pytest.raises(ConfigError, match="twice"):
        regions(text + text)


def test_committed_regions_are_the_generators_output():
    """Every marked region of docs/results.md and README.md equals what the generator renders
    from the committed data (docs/results-data/*.json), character for character, and every
    region the generator renders is marked somewhere."""
    rendered = gen.render_all(ROOT / gen.DATA_DIR)
    marked = {}
    for doc in gen.DOCS:
        for name, body in regions((ROOT / doc).read_text(encoding="utf-8")).items():
            assert name not in marked, f"{name} marked in {doc} and {marked.get(name)}"
            marked[name] = doc
            assert name in rendered, f"{doc}: region {name} has no experiment (experiments.all)"
            assert body == rendered[name].rstrip("\n") + "\n", f"{doc}: {name} is stale"
    assert set(rendered) <= set(marked), sorted(set(rendered) - set(marked))


def test_quick_mode_renders_into_copies(tmp_path):
    """``--quick`` on one small experiment: the copies' marked region is rewritten with the
    quick run's table, the rest of both documents is untouched, and the stored data renders
    back to the same text."""
    assert gen.main(["--quick", "--only", "dap_depth", "--out", str(tmp_path)]) == 0
    before = (ROOT / "docs/results.md").read_text(encoding="utf-8")
    after = (tmp_path / "results.md").read_text(encoding="utf-8")
    body = regions(after)["dap_depth.table"]
    assert body.startswith("20 layers × 200 LIF neurons")  # the quick size, not the committed
    table = [line for line in body.splitlines() if line.startswith("| ")]
    assert len(table) == 2 + 6  # header, rule, DAP/Kaiming × (first step, Eq. 13, leaked)
    assert "Eq. 13 (reset not leaked)" in body and "(img/dap_depth.png)" in body
    assert (tmp_path / "img/dap_depth.png").stat().st_size > 1000
    assert REGION.sub("", after) == REGION.sub("", before)  # outside the markers: unchanged
    assert (tmp_path / "README.md").read_text() == (ROOT / "README.md").read_text()
    data = json.loads((tmp_path / "results-data/dap_depth.json").read_text())
    assert data["settings"]["depth"] == 20
    again = gen.render_all(tmp_path / "results-data", ["dap_depth"])["dap_depth.table"]
    assert again.rstrip("\n") + "\n" == body


def test_unmarked_region_is_an_error(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("no markers here\n")
    with pytest.raises(ConfigError, match="marked in none"):
        gen._rewrite_docs({"doc.md": doc}, {"x.table": "| a |"})
