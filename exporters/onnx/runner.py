"""Running the ONNX step model over time: onnxruntime, or ``onnx.reference`` through the
function bodies or through the op-level classes of :mod:`exporters.onnx.reference_ops`.

The loop (docs/ir.md, "Running the model") is the same for every backend: the state inputs
listed in ``spikefold.state`` start at zero; step ``t = 0 .. steps-1`` feeds ``t``, the
frame of every Input node and the state, and the ``*_next`` outputs become the next state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from exporters.onnx.export import PROBES
from exporters.onnx.importer import ModelInfo, check_model, load_onnx
from hwsim.errors import DataError, ExportError

__all__ = ["BACKENDS", "OnnxRun", "StepModel", "run_onnx"]

BACKENDS = ("onnxruntime", "reference", "reference-ops")
"""``onnxruntime``; ``reference`` (``onnx.reference`` executing the function bodies);
``reference-ops`` (``onnx.reference`` with the op classes of ``reference_ops``)."""


@dataclass(frozen=True)
class OnnxRun:
    """The result of :func:`run_onnx`.

    ``readout [B, K]`` the Readout node's total over its ``T`` aligned steps,
    ``predictions [B]`` its argmax (lowest index on ties; both None without a Readout),
    ``records`` ``{node: [steps, B, *shape]}`` for the recorded nodes (and ``"<lif>/h"``, the
    pre-reset membrane), ``steps`` the number of steps run.
    """

    backend: str
    steps: int
    readout: np.ndarray | None
    predictions: np.ndarray | None
    records: dict[str, np.ndarray] = field(default_factory=dict)


class StepModel:
    """A validated step model with one backend session, reusable across batches."""

    def __init__(self, model: onnx.ModelProto | str | Path, backend: str = "onnxruntime"):
        if backend not in BACKENDS:
            raise ExportError(f"unknown ONNX backend {backend!r}; choose from {BACKENDS}")
        if not isinstance(model, onnx.ModelProto):
            model = load_onnx(model)
        self.info: ModelInfo = check_model(model)
        self.model = model
        self.backend = backend
        self._outputs = [o.name for o in model.graph.output]
        if backend == "onnxruntime":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            # no graph rewrites: a fused MatMul+Add (Gemm) may round floats differently
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            sess = ort.InferenceSession(
                model.SerializeToString(), opts, providers=["CPUExecutionProvider"]
            )
            self._run = lambda feeds: sess.run(self._outputs, feeds)
        else:
            from onnx.reference import ReferenceEvaluator

            from exporters.onnx.reference_ops import reference_ops

            new_ops = reference_ops(self.info.format) if backend == "reference-ops" else None
            ev = ReferenceEvaluator(model, new_ops=new_ops)
            self._run = lambda feeds: ev.run(self._outputs, feeds)

    def run(
        self,
        x: np.ndarray | Mapping[str, np.ndarray],
        record: bool | Iterable[str] = False,
        generator: np.random.Generator | None = None,
    ) -> OnnxRun:
        """Loop the model over ``info.steps`` steps on the batch ``x``.

        ``x`` as for :func:`hwsim.sim.simulate`: for an Input of encoding ``direct`` or
        ``rate`` a batch of frames ``[B, *shape]`` (the same frame every step; ``rate`` draws
        Bernoulli spikes from it each step with ``generator``, as hwsim does), for ``spikes``
        ``[T, B, *shape]``; a dict by Input name for several inputs. Steps beyond ``T``
        (``lava`` timing) get zero frames. Bad inputs raise :class:`DataError`.
        """
        return self.run_frames(self.encode(x, generator), record)

    def encode(
        self, x: np.ndarray | Mapping[str, np.ndarray], generator: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        """The per-step frames ``{input: [T, B, *shape]}`` (float64) :meth:`run` feeds: a
        ``direct`` frame repeated (the model quantises it), ``spikes`` as given, ``rate``
        drawn exactly as :func:`hwsim.sim.encode_inputs` draws (per input in graph order,
        ``T`` draws of ``generator.random(shape) < p``; default ``default_rng(0)``)."""
        return _encode(self.info, x, generator)

    def run_frames(
        self, frames: Mapping[str, np.ndarray], record: bool | Iterable[str] = False
    ) -> OnnxRun:
        """:meth:`run` on frames from :meth:`encode` (e.g. a slice of a batch's draws)."""
        info = self.info
        first = info.inputs[0]
        batch = frames[first].shape[1]
        dtype = np.int64 if info.format == "fixed" else np.float64
        state = {s["input"]: np.zeros(_shape(s["shape"], batch), dtype) for s in info.state}
        wanted = _recorded(info, record)
        recs: dict[str, list[np.ndarray]] = {k: [] for k in wanted}
        for t in range(info.steps):
            feeds = {"t": np.array(t, dtype=np.int64), **state}
            for name, seq in frames.items():  # input steps t >= T are zero, as in hwsim.sim
                feeds[f"{name}/x"] = seq[t] if t < info.T else np.zeros_like(seq[0])
            outs = dict(zip(self._outputs, self._run(feeds)))
            for s in info.state:
                state[s["input"]] = np.asarray(outs[s["output"]])
            for k in wanted:
                recs[k].append(np.asarray(outs[k]))
        readout = predictions = None
        if info.readouts:
            readout = state[f"{info.readouts[0]}/total"]
            predictions = np.argmax(readout.reshape(batch, -1), axis=1)
        return OnnxRun(
            backend=self.backend,
            steps=info.steps,
            readout=readout,
            predictions=predictions,
            records={k: np.stack(v) for k, v in recs.items()},
        )


def run_onnx(
    model: onnx.ModelProto | str | Path,
    x: np.ndarray | Mapping[str, np.ndarray],
    *,
    backend: str = "onnxruntime",
    record: bool | Iterable[str] = False,
    generator: np.random.Generator | None = None,
) -> OnnxRun:
    """Run the step model ``model`` (a ModelProto or a path) over time on ``x``; see
    :meth:`StepModel.run`. Raises :class:`ExportError` for a model that fails the checks of
    :func:`exporters.onnx.validate.check_model`."""
    return StepModel(model, backend).run(x, record=record, generator=generator)


def _shape(spec: list, batch: int) -> tuple[int, ...]:
    return tuple(batch if d == "B" else int(d) for d in spec)


def _encode(info: ModelInfo, x, generator) -> dict[str, np.ndarray]:
    if not isinstance(x, Mapping):
        if len(info.inputs) != 1:
            raise DataError(f"the model has inputs {info.inputs}; pass x as a dict by name")
        x = {info.inputs[0]: x}
    if set(x) != set(info.inputs):
        raise DataError(f"x has inputs {sorted(x)}, the model {info.inputs}")
    gen = np.random.default_rng(0) if generator is None else generator
    out = {}
    for name in info.inputs:
        enc, want = info.inputs_encoding[name], info.input_shapes[name]
        a = np.asarray(x[name], dtype=np.float64)
        lead = 2 if enc == "spikes" else 1
        if a.ndim != lead + len(want) or tuple(a.shape[lead:]) != tuple(want):
            kind = "[T, B, *shape]" if lead == 2 else "[B, *shape]"
            raise DataError(f"input {name!r} ({enc}): expected {kind} with shape {want}, "
                            f"got {a.shape}")  # fmt: skip
        if lead == 2 and a.shape[0] != info.T:
            raise DataError(f"input {name!r}: a spike train of {a.shape[0]} steps, T={info.T}")
        if not np.all(np.isfinite(a)):
            raise DataError(f"input {name!r} has NaN or infinite values")
        if enc == "rate":
            if a.size and (a.min() < 0 or a.max() > 1):
                raise DataError(f"input {name!r} (rate): probabilities must lie in [0, 1]")
            a = np.stack([gen.random(a.shape) < a for _ in range(info.T)]).astype(np.float64)
        elif enc == "direct":
            a = np.broadcast_to(a, (info.T, *a.shape))
        out[name] = a
    return out


def _recorded(info: ModelInfo, record) -> list[str]:
    if record is False:
        return []
    names = list(info.nodes) if record is True else list(record)
    out = []
    for n in names:
        base = n.split("/", 1)[0]
        if base not in info.nodes:
            raise ExportError(f"cannot record {n!r}: no such node")
        out.append(n)
        if record is True:
            out += [f"{n}/{p}" for p in PROBES.get(info.kinds[n], ())]
    return out
