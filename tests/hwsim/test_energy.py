"""hwsim.energy / hwsim.pricing: the constants as published, hand-priced tiny runs under every
family, ranges, unpriced terms, user TOML tables and the number formatting."""

from __future__ import annotations

import numpy as np
import pytest

from hwsim.counters import count_run
from hwsim.energy import (
    BUILTIN_MODELS,
    CITATIONS,
    GRADES,
    Constant,
    PriceModel,
    load_price_model,
)
from hwsim.errors import ConfigError
from hwsim.graph import LIF, Dense, GraphMetadata, HardwareGraph, Input, Readout
from hwsim.pricing import price, sram_access


@pytest.fixture(scope="module")
def tiny():
    """5 ACs (fan-outs [2, 1, 1], spikes [1,0,1] then [0,1,1]), 4 LIF + 2 readout updates, no
    output spikes, 4 input spikes; Dense of one pass: 6 + 2 MACs."""
    w = np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 0.0]], np.float32)
    nodes = {"x": Input((3,), "spikes"), "fc": Dense(w), "lif": LIF(1.0, 10.0),
             "out": Dense(np.ones((1, 2), np.float32)), "ro": Readout()}  # fmt: skip
    names = list(nodes)
    g = HardwareGraph(nodes, list(zip(names[:-1], names[1:])), GraphMetadata(T=2))
    return count_run(g, np.array([[[1, 0, 1]], [[0, 1, 1]]]))


def test_builtin_constants_as_published():
    fp32, int8 = BUILTIN_MODELS["compute-fp32"].constants, BUILTIN_MODELS["compute-int8"].constants
    assert fp32["mac"].value == pytest.approx(3.7 + 0.9) and fp32["ac"].value == 0.9
    assert int8["mac"].value == pytest.approx(0.2 + 0.03) and int8["ac"].value == 0.03
    loihi = BUILTIN_MODELS["loihi"].constants
    assert loihi["synop"].value == 23.6 and loihi["spike"].value == 1.7
    assert (loihi["update"].low, loihi["update"].high) == (52.0, 81.0)
    assert (loihi["hop"].low, loihi["hop"].high) == (3.0, 4.0)
    mem = BUILTIN_MODELS["memory"].constants
    assert mem["sram_8kib"].value == 10.0
    for model in BUILTIN_MODELS.values():
        for name, c in model.constants.items():
            assert c.source in CITATIONS, (model.name, name)
            assert c.node and c.note and c.grade in GRADES, (model.name, name)
            assert c.low <= c.value <= c.high


def test_sram_access_through_horowitz_points():
    m = BUILTIN_MODELS["memory"]
    kib = 8 * 1024
    e8, lo8, hi8 = sram_access(m, 8 * kib, 64)
    assert e8 == pytest.approx(10.0) and hi8 == pytest.approx(13.3 + 0.0848 * 8)
    assert sram_access(m, 32 * kib, 64)[0] == pytest.approx(20.0, rel=0.05)
    assert sram_access(m, 1024 * kib, 64)[0] == pytest.approx(100.0, rel=0.05)
    # a narrow word costs its share of the 64-bit access at the low end only
    e, lo, hi = sram_access(m, 8 * kib, 8)
    assert (e, hi) == (e8, hi8) and lo == pytest.approx(10.0 / 8)


def test_compute_family_hand_priced(tiny):
    p = price(tiny, BUILTIN_MODELS["compute-fp32"])
    assert p.snn["synaptic ACs"].energy == pytest.approx(0.9 * 5)
    assert p.snn["neuron updates"].count == 6
    assert p.total() == pytest.approx((0.9 * 5 + 5.5 * 6, 0.9 * 5 + 4.6 * 6, 0.9 * 5 + 5.5 * 6))
    assert p.total("ann") == pytest.approx((4.6 * 8,) * 3)
    assert p.ratio()[0] == pytest.approx(4.6 * 8 / (0.9 * 5 + 5.5 * 6))
    assert p.by_layer["fc"]["synaptic ACs"].energy == pytest.approx(0.9 * 5)
    assert "out" not in p.by_layer  # the LIF never spikes: nothing downstream
    assert not p.unpriced


def test_platform_family_hand_priced_and_unpriced_terms(tiny):
    p = price(tiny, BUILTIN_MODELS["loihi"])
    assert p.snn["synaptic ops"].energy == pytest.approx(23.6 * 5)
    assert p.snn["neuron updates"].energy == pytest.approx(81 * 6)
    assert p.snn["neuron updates"].low == pytest.approx(52 * 6)
    assert "spikes" not in p.snn  # no output spikes
    assert p.total() == pytest.approx((23.6 * 5 + 81 * 6, 23.6 * 5 + 52 * 6, 23.6 * 5 + 81 * 6))
    assert p.unpriced == {"input injection": 4.0}  # no published figure: listed, not zero
    assert p.ratio() is None
    # a table without an update price leaves the updates out of the total and says so
    syn_only = PriceModel("syn", "platform", "synops only", {"synop": Constant(2.0)})
    q = price(tiny, syn_only)
    assert q.total()[0] == pytest.approx(10.0)
    assert q.unpriced["neuron updates"] == 6


def test_memory_family_terms_add_up(tiny):
    m = BUILTIN_MODELS["memory"]
    p = price(tiny, m)
    w_rd = sram_access(m, 6 * 32, 32)  # the float graph's 6 weights, 32 bits each
    assert p.snn["weight reads"].energy == pytest.approx(5 * w_rd[0])
    assert p.snn["weight reads"].low == pytest.approx(5 * w_rd[1])
    assert p.total()[0] == pytest.approx(sum(t.energy for t in p.snn.values()))
    assert p.total()[1] <= p.total()[0] <= p.total()[2]
    assert set(p.ann) >= {"MACs", "weight reads", "activation reads/writes"}


def test_per_sample_prices_do_not_depend_on_the_sample_count(tiny):
    double = tiny.merge(tiny)
    for model in BUILTIN_MODELS.values():
        assert price(double, model).total() == pytest.approx(price(tiny, model).total())


TOML = """
name = "chip22"
family = "platform"
title = "A 22 nm chip"
[params]
mean_hops = 2.0
[constants.synop]
value = 5.0
low = 4.0
high = 6.0
source = "Doe et al. 2024, Table 3"
node = "22 nm, 0.8 V"
grade = "measured"
[constants.update]
value = 10.0
grade = "all-in"
"""


def test_user_toml_table(tmp_path, tiny):
    path = tmp_path / "chip.toml"
    path.write_text(TOML)
    m = load_price_model(path)
    assert m.name == "chip22" and m.params["mean_hops"] == 2.0
    assert m.constants["synop"].grade == "measured" and m.constants["synop"].low == 4.0
    p = price(tiny, m)
    assert p.total() == pytest.approx((5 * 5 + 10 * 6, 4 * 5 + 10 * 6, 6 * 5 + 10 * 6))


@pytest.mark.parametrize(
    "text, match",
    [
        ("name = 'x'\nfamily = 'compute'\n[constants.mac]\nvalue = 1.0\n", "missing constants"),
        ("name = 'x'\nfamily = 'platform'\n[constants.synop]\nvalue = 1.0\nlow = 2.0\n",
         "low <= value"),
        ("name = 'x'\nfamily = 'platform'\n[constants.synop]\nvalue = 1.0\ngrade = 'vibes'\n",
         "grade"),
        ("name = 'x'\nfamily = 'platform'\n[constants.synop]\nvalue = 1.0\n[constants.bogus]\n"
         "value = 1.0\n", "unknown"),
        ("name = 'x'\nfamily = 'quantum'\n", "family"),
        ("name = 'x'\nfamily = 'platform'\ncolour = 1\n", "unknown keys"),
        ("name = 'x'\nfamily = 'platform'\n[params]\nhops = 1\n[constants.synop]\nvalue = 1\n",
         "unknown params"),
        ("name = \n", "not valid TOML"),
    ],
)  # fmt: skip
def test_bad_tables_name_the_file_and_problem(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as err:
        load_price_model(path)
    assert "bad.toml" in str(err.value)
