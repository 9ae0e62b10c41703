"""Lava's fixed-point models (lava-nc 0.10.0, ``Loihi2SimCfg(select_tag="fixed_pt")``) against
values derived by hand, and the two traps of DESIGN.md section 4.

The equations, read from site-packages ``lava/proc/dense/models.py`` (``PyDenseModelBitAcc``)
and ``lava/proc/lif/models.py`` (``AbstractPyLifModelFixed`` + ``PyLifModelBitAcc``):

    Dense, step t:  send a_buff (the accumulation of step t-1: ONE STEP LATE), then
                    a_buff = (W' @ s(t)) << weight_exp,   W' = Lava's clipped+truncated W
    LIF,   step t:  u = sgn(u*(4096-du-1)) * (|u*(4096-du-1)| >> 12) + (a_in << 6)  (24-bit wrap)
                    v = sgn(v*(4096-dv))   * (|v*(4096-dv)|   >> 12) + u + bias    (24-bit clip)
                    spike = v > (vth << 6);  v = 0 where spiked
    (``ds_offset = 1`` makes du = 4095 a full decay of u; ``dm_offset = 0``.) The shifts of
    negative numbers act on |x|, so the decay truncates TOWARD ZERO, not toward -inf.
    RingBuffer source, step t: sends data[:, t-1].

Each Lava run starts a handful of OS processes (fork) and takes well under a second here; the
runtime is always stopped in ``finally``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import TypeVar

import numpy as np

import exporters  # noqa: F401 - installs the Python 3.11 shim; must precede every lava import

# isort: split
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.models import PyLifModelBitAcc
from lava.proc.lif.process import LIF
from lava.proc.monitor.process import Monitor

R = TypeVar("R")


def _run_fixed_pt(proc: AbstractProcess, steps: int, read: Callable[[], R]) -> R:
    """Run the network of ``proc`` for ``steps`` on Lava's fixed-point models, read, stop."""
    try:
        proc.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return read()
    finally:
        proc.stop()


def _probe(proc: AbstractProcess, var_name: str, steps: int) -> Callable[[], np.ndarray]:
    """Probe ``proc.<var_name>`` for ``steps``; the reader returns an int (steps, n) array."""
    monitor = Monitor()
    monitor.probe(getattr(proc, var_name), steps)
    return lambda: monitor.get_data()[proc.name][var_name].astype(np.int64)


def test_source_dense_lif_matches_hand_derivation() -> None:
    # Network: one input line spiking at steps 1, 2, 5 -> Dense W = [[10], [-6]] with
    # weight_exp = 1 -> LIF (2 neurons) du = 2047, dv = 1024, vth = 48, no bias.
    # W is mixed-sign but even, so Lava's truncation (trap a) leaves it unchanged.
    steps = 7
    source = Source(data=np.array([[1, 1, 0, 0, 1, 0, 0]]))
    dense = Dense(weights=np.array([[10], [-6]]), weight_exp=1)
    lif = LIF(shape=(2,), du=2047, dv=1024, vth=48, bias_mant=0)
    sink = Sink(shape=(2,), buffer=steps)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    read_u, read_v = _probe(lif, "u", steps), _probe(lif, "v", steps)
    u, v, spikes = _run_fixed_pt(
        lif, steps, lambda: (read_u(), read_v(), sink.data.get().astype(np.int64).T)
    )

    # Derivation (rows = steps 1..7, columns = neurons 0, 1):
    # a_in(t) = (W s(t-1)) << 1: s(0)=0, s(1)=s(2)=s(5)=1 -> input at t = 2, 3, 6:
    #   neuron 0: 10 << 1 = 20 -> a_in << 6 = 1280;  neuron 1: -6 << 1 = -12 -> -768.
    # du = 2047: u * (4096 - 2048) >> 12 = u / 2 (exact here: every u is a multiple of 64).
    #   u0: 0, 1280, 640+1280=1920, 960, 480, 240+1280=1520, 760
    #   u1: the same times -768/1280 -> 0, -768, -1152, -576, -288, -912, -456
    expected_u = [[0, 0], [1280, -768], [1920, -1152], [960, -576], [480, -288], [1520, -912]]
    expected_u += [[760, -456]]
    # dv = 1024: v * 3072 >> 12 = trunc(3v/4); vth << 6 = 3072.
    #   v0: t2 1280; t3 960+1920 = 2880; t4 2160+960 = 3120 > 3072 -> SPIKE, v = 0;
    #       t5 0+480 = 480; t6 360+1520 = 1880; t7 1410+760 = 2170.
    #   v1: t2 -768; t3 -576-1152 = -1728; t4 -1296-576 = -1872; t5 -1404-288 = -1692;
    #       t6 -1269-912 = -2181; t7 trunc(-1635.75) = -1635 (toward zero; floor: -1636),
    #       -1635-456 = -2091.
    expected_v = [[0, 0], [1280, -768], [2880, -1728], [0, -1872], [480, -1692], [1880, -2181]]
    expected_v += [[2170, -2091]]
    expected_spikes = np.zeros((steps, 2), dtype=np.int64)
    expected_spikes[3, 0] = 1  # step 4, neuron 0
    np.testing.assert_array_equal(u, expected_u)
    np.testing.assert_array_equal(v, expected_v)
    np.testing.assert_array_equal(spikes, expected_spikes)


def test_trap_dense_truncates_mixed_sign_weights_to_even() -> None:
    # One spike at step 1 through three single-column Dense processes; the column each delivers
    # at step 2 (one step late) is its weight column AFTER Lava's preprocessing:
    #   clip_weights(W, sign_mode, 8):  mixed [-256, 255], excitatory [0, 255], inhibitory [-255, 0]
    #   truncate_weights(W, sign_mode, 8): (W >> k) << k with k = 8 - 8 + (sign_mode == MIXED)
    # sign_mode = determine_sign_mode(W): min >= 0 excitatory, max <= 0 inhibitory, else mixed.
    # So mixed-sign weights lose their LSB, rounding toward -inf: 255 -> 254, -3 -> -4, 7 -> 6.
    weights = {
        "mixed": [255, 254, 7, -3, -1, -256, 100, -257, 256],
        "excitatory": [255, 254, 7, 3, 1, 0, 100, 256, 0],
        "inhibitory": [-255, -254, -7, -3, -1, 0, -100, -256, 0],
    }
    delivered = {
        "mixed": [254, 254, 6, -4, -2, -256, 100, -256, 254],  # 256 clips to 255, then 254
        "excitatory": [255, 254, 7, 3, 1, 0, 100, 255, 0],  # full 8-bit magnitude; 256 -> 255
        "inhibitory": [-255, -254, -7, -3, -1, 0, -100, -255, 0],  # -256 -> -255
    }
    source = Source(data=np.array([[1, 0]]))
    sinks = {}
    for mode, column in weights.items():
        dense = Dense(weights=np.array(column).reshape(-1, 1))
        sinks[mode] = Sink(shape=(len(column),), buffer=2)
        source.s_out.connect(dense.s_in)
        dense.a_out.connect(sinks[mode].a_in)
    got = _run_fixed_pt(
        source, 2, lambda: {m: s.data.get().astype(np.int64) for m, s in sinks.items()}
    )
    for mode, data in got.items():
        np.testing.assert_array_equal(data[:, 0], 0, err_msg=f"{mode}: step 1 must be empty")
        np.testing.assert_array_equal(data[:, 1], delivered[mode], err_msg=mode)


def test_trap_lif_does_not_enforce_int16_a_in() -> None:
    # PyLifModelBitAcc declares a_in as LavaPyType(VEC_DENSE, np.int16, precision=16), but the
    # channel into it carries the SENDER's dtype (channel_builder: src_port_initializer.d_type,
    # here Dense's a_out, np.int32), and PyInPortVectorDense.recv() adds it to
    # np.zeros(shape, np.int16), which numpy promotes to int32: nothing wraps at 16 bit.
    # u, in contrast, IS wrapped to 24 bit (AbstractPyLifModelFixed.subthr_dynamics).
    assert PyLifModelBitAcc.a_in.d_type is np.int16
    assert PyLifModelBitAcc.a_in.precision == 16
    # Dense W = [[255], [100]], weight_exp = 10, one spike at step 1 -> a_in at step 2:
    #   neuron 0: 255 << 10 = 261,120 (int16 would wrap it to -1,024)
    #     u = 261,120 << 6 = 16,711,680 > 2**23 -> wrapped: 16,711,680 - 2**24 = -65,536
    #   neuron 1: 100 << 10 = 102,400 (int16 would wrap it to -28,672)
    #     u = 102,400 << 6 = 6,553,600 < 2**23 (had a_in wrapped: -28,672 << 6 = -1,835,008)
    # du = dv = 4095: u(1) = v(1) = 0, so at step 2 v = u; vth << 6 = 8,388,544: no spike.
    source = Source(data=np.array([[1, 0]]))
    dense = Dense(weights=np.array([[255], [100]]), weight_exp=10)
    lif = LIF(shape=(2,), du=4095, dv=4095, vth=131071)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    read_u, read_v = _probe(lif, "u", 2), _probe(lif, "v", 2)
    u, v = _run_fixed_pt(lif, 2, lambda: (read_u(), read_v()))
    np.testing.assert_array_equal(u, [[0, 0], [-65_536, 6_553_600]])
    np.testing.assert_array_equal(v, [[0, 0], [-65_536, 6_553_600]])


def test_stopped_runtime_leaves_no_child_processes() -> None:
    steps = 3
    source = Source(data=np.array([[1, 0, 1]]))
    dense = Dense(weights=np.array([[4]]))
    sink = Sink(shape=(1,), buffer=steps)
    source.s_out.connect(dense.s_in)
    dense.a_out.connect(sink.a_in)
    data = _run_fixed_pt(source, steps, lambda: sink.data.get().astype(np.int64))
    np.testing.assert_array_equal(data, [[0, 4, 0]])  # one step late: spike 1 -> 4 at step 2
    assert [p for p in multiprocessing.active_children() if p.is_alive()] == []
