"""report.html in headless Chromium (Debian's ``chromium``; ``make browser`` installs it): the
stage table, the drawing of the network and every plot are laid out, decoded and fit a
1280 px page, in the story's order; the screenshot is not blank. In CI (``CI`` set, as
``.ci/run`` does) a missing Chromium fails the test; elsewhere the test skips and says why."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hwsim.report import make_plots, write_report
from toolchain.browser import CHROMIUM, find_chromium, page_facts, screenshot

WIDTH = 1280


@pytest.fixture(scope="module")
def chromium():
    found = find_chromium()
    if found is None:
        why = f"{CHROMIUM} is missing: install it with `make browser` (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI: {why}; .ci/run installs it through `make test`")
        pytest.skip(why)
    return found


def test_report_renders_in_chromium(chromium, tiny_report, tmp_path):
    rep = tiny_report
    paths = write_report(tmp_path, rep)
    facts = page_facts(paths.html, width=WIDTH)

    assert facts["tables"]["stages"] == len(rep["stages"]) == 6
    assert facts["drawing_nodes"] == len(rep["network"]["nodes"]) == 7
    plots = sorted(make_plots(rep))
    assert plots == sorted(["timing_difference", "snn_vs_ann", "firing_rate",
                            "spikes_per_step", "energy_by_layer"])  # fmt: skip
    shown = {im["id"]: im for im in facts["images"]}
    assert sorted(shown) == [f"plot-{k}" for k in plots]
    for im in shown.values():  # decoded, and shown at its size: no downscaled 6 pt labels
        assert im["complete"] and im["width"] > 300 and im["height"] > 200, im
        assert im["shown"] == im["width"] <= WIDTH, im
    assert facts["width"] <= WIDTH and facts["drawing_width"] <= WIDTH  # no sideways scrolling
    tops = facts["tops"]
    assert tops["stages"] < tops["graph-drawing"] < tops["timings"] < tops["layers"]
    assert tops["stages"] < 400  # the story opens the page

    png = screenshot(paths.html, tmp_path / "report.png", width=WIDTH)
    from PIL import Image

    with Image.open(png) as im:
        assert im.width == WIDTH and im.height >= facts["height"] - 5
        px = np.asarray(im.convert("RGB"))
    ink = np.any(px < 235, axis=2)
    assert ink.mean() > 0.03, "the screenshot is (nearly) blank"
    stage_band = ink[tops["stages"] : tops["graph-drawing"]]
    assert stage_band.mean() > 0.03, "nothing drawn where the stage table is"
    print(f"screenshot: {png}")
