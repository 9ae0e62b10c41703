"""Rung S of the verification ladder (DESIGN.md section 6): an imported float graph against the
source library's own run, layer by layer with teacher forcing.

The reference is what the library itself computed on the same input sequence: per NIR node,
``[T, B, ...]`` arrays of its output (the neurons' spikes; optionally the ``Output`` node,
whose values are the Readout's input currents: the last layer's spikes for a spiking output,
an affine layer's currents otherwise). Keys are the **NIR** node names (``"0"``, ``"1"``,
``"_3"``, ``"1_LIFNeuronTorch"``); :class:`~.importer.ImportRecord` maps them to the hwsim
nodes. Everything else is rung 0's (:func:`hwsim.verify.rung0`): every LIF is fed the
library's spikes and resets with them, so a mismatch is local to the layer where the import
and the library part; a mismatch within the float32 error bound of ``|H - θ|`` is a tie
(libraries run in float32, as the torch models of rung 0 do). Passes when no mismatch is an
error and the forced readout currents agree within their bound; the free-run (end-to-end)
agreement and the first divergence are reported too.

A reference file (``.npz``) holds the same arrays plus the input sequence under the NIR
``Input`` node's name (:func:`load_reference`); a Python reference is a callable
``f(x_seq [T, B, ...]) -> {nir name: array}``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from hwsim.errors import VerificationError
from hwsim.graph import LIF, HardwareGraph, Readout
from hwsim.verify import RungResult, rung0

from .importer import ImportRecord

__all__ = ["rung_s", "load_reference", "Reference"]

Reference = Mapping[str, np.ndarray] | Callable[[np.ndarray], Mapping[str, np.ndarray]]


def load_reference(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a reference ``.npz`` (plain arrays only: ``allow_pickle=False``)."""
    p = Path(path)
    if not p.is_file():
        raise VerificationError(f"{p}: no such reference file (an .npz of per-node arrays)")
    try:
        with np.load(p, allow_pickle=False) as z:
            return {k: np.asarray(z[k]) for k in z.files}
    except (OSError, ValueError) as exc:
        raise VerificationError(f"{p}: not a readable .npz of arrays ({exc})") from exc


def _as_hw(name: str, a: np.ndarray, shape: tuple[int, ...], T: int) -> np.ndarray:
    """``a [T, B, *nir_shape]`` as ``[T, B, *shape]`` (same sizes: a batch axis of the source's
    ``Input`` or Conv1d's unit axis changes only the shape)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim < 2 or a.shape[0] != T or int(np.prod(a.shape[2:])) != int(np.prod(shape)):
        raise VerificationError(
            f"reference[{name!r}] has shape {list(a.shape)}; expected [T={T}, B, ...] with "
            f"{int(np.prod(shape))} values per sample (the node's shape {list(shape)})"
        )
    return a.reshape(a.shape[0], a.shape[1], *shape)


def rung_s(
    graph_float: HardwareGraph,
    record: ImportRecord,
    reference: Reference,
    inputs=None,
    *,
    batch_size: int = 256,
) -> RungResult:
    """Rung S: ``graph_float`` (imported as ``record`` says) against ``reference``, the source
    library's per-node outputs keyed by NIR node name, or a callable producing them from the
    input sequence. ``inputs`` the input sequence ``[T, B, ...]``; default: the reference's
    array under the NIR Input node's name."""
    g = graph_float
    T = g.metadata.T
    shapes = g.shapes()
    (inp,) = g.input_names()
    nir_inp = record.names.get(inp, inp)
    if inputs is None:
        if callable(reference) or nir_inp not in reference:
            raise VerificationError(
                f"rung S needs the input sequence: pass inputs, or put it in the reference "
                f"under the NIR Input node's name {nir_inp!r}"
            )
        inputs = reference[nir_inp]
    seq = _as_hw(nir_inp, inputs, shapes[inp], T)
    ref = dict(reference(np.asarray(inputs)) if callable(reference) else reference)
    ref.pop(nir_inp, None)
    mapped: dict[str, np.ndarray] = {}
    for key, arr in ref.items():
        hw = record.hw_name(key)
        node = g.nodes[hw]
        if isinstance(node, Readout):
            mapped[hw] = _as_hw(key, arr, shapes[g.predecessors(hw)[0]], T)
        elif isinstance(node, LIF):
            mapped[hw] = _as_hw(key, arr, shapes[hw], T)
    if not any(isinstance(g.nodes[k], LIF) for k in mapped):
        raise VerificationError(
            f"the reference names no neuron node of the import (keys {sorted(ref)}; neurons: "
            f"{sorted(record.names[k] for k, v in g.nodes.items() if isinstance(v, LIF))})"
        )
    res = rung0(g, seq, mapped, batch_size=batch_size)
    settings = dict(res.settings)
    settings.update(
        source=record.source,
        dt=record.dt,
        assumptions=list(record.assumptions),
        nir_names={k: record.names.get(k, k) for k in res.layers},
    )
    return dataclasses.replace(
        res,
        rung="S",
        title=f"{record.source} run ↔ imported float graph, teacher forcing",
        settings=settings,
    )
