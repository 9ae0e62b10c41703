"""Networks built with snnTorch, Norse, SpikingJelly, Sinabs and Rockpool, exported with each
library's own NIR exporter, imported without hand edits; rung S against the library's own run;
quantised, then rung 2 (Lava, bit-exact) and rung 3 (ONNX) (issue 11, docs/interop.md)."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch

from exporters.nir_export import LossyImportWarning, import_nir, load_nir_graph, rung_s

from .conftest import IN_SHAPES, T, sequence

EXACT = [
    ("snntorch", "mlp"), ("snntorch", "conv"), ("norse", "mlp"), ("spikingjelly", "mlp"),
    ("spikingjelly", "conv"), ("spikingjelly", "conv1d"), ("sinabs", "mlp"), ("sinabs", "conv"),
]  # fmt: skip


def _file(lib, net, kind, tmp_path) -> nir.NIRGraph:
    """The library's export written to a real .nir file and read back, as a user gets it;
    where nir 1.0.8's ``nir.write`` cannot store it (Norse's and Sinabs' scalar LIF
    parameters, Sinabs' untyped Conv2d: docs/interop.md), the graph object itself."""
    ng = lib.export(net, IN_SHAPES[kind])
    path = tmp_path / f"{lib.name}_{kind}.nir"
    try:
        nir.write(path, ng)
    except TypeError:
        assert lib.name in ("norse", "sinabs"), f"{lib.name}'s {kind} export does not write"
        return ng
    return load_nir_graph(path)


def _import(lib, ng):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LossyImportWarning)
        imp = import_nir(ng, T=T, source=lib.source, encoding="direct")
    return imp, [w for w in caught if issubclass(w.category, LossyImportWarning)]


@pytest.mark.parametrize(("name", "kind"), EXACT)
def test_library_net_imports_exactly_and_deploys(libs, digits, name, kind, tmp_path):
    from exporters.lava.rung2 import rung2_fixed
    from exporters.onnx import rung3
    from toolchain.fold import to_lava_timing
    from toolchain.quantize import quantize

    lib = libs[name]
    net = lib.build(kind)
    ng = _file(lib, net, kind, tmp_path)
    imp, lossy = _import(lib, ng)
    # snnTorch and Sinabs warn even here: their files cannot tell this exact configuration
    # from their defaults (subtract reset; MultiSpike + MembraneSubtract), see LOSSY.
    assert bool(lossy) == (name in ("snntorch", "sinabs")), [str(w.message) for w in lossy]
    x, y, calib = digits
    seq = sequence(x, IN_SHAPES[kind])
    ref = lib.run(net, seq)
    assert sum(int(v.sum()) for v in ref.values()) > 0  # the net spikes: the check has teeth
    res = rung_s(imp.graph, imp.record, ref, seq.numpy())
    assert res.passed and res.n_errors == 0, res.summary()
    assert all(la.mismatches == 0 for la in res.layers.values()), res.summary()  # 100 %
    shape = imp.graph.nodes[imp.graph.input_names()[0]].shape
    q = quantize(imp.graph, calib.reshape(len(calib), *shape).numpy().astype(np.float64))
    xs = x.reshape(len(x), *shape).numpy()
    r2 = rung2_fixed(to_lava_timing(q.graph), xs[:3], labels=y[:3].numpy())
    assert r2.passed, r2.summary()
    r3 = rung3(q.graph, xs, labels=y.numpy(), reference_samples=2)
    assert r3.passed, r3.summary()


@pytest.mark.parametrize(("name", "options"), [
    ("snntorch", {"reset": "subtract"}), ("sinabs", {"exact": False}), ("rockpool", {}),
])  # fmt: skip
def test_lossy_exports_warn_and_rung_s_shows_what_was_lost(libs, digits, name, options, tmp_path):
    """snnTorch's default subtract reset, Sinabs' default MultiSpike + MembraneSubtract and
    Rockpool (bias dropped, subtract reset) write the same file as an exact network: the
    import warns what it assumed, and rung S measures the cost against the library's run."""
    lib = libs[name]
    net = lib.build("mlp", **options)
    with torch.no_grad():  # strong inputs: neurons cross threshold by a margin, resets differ
        for m in net.modules():
            if hasattr(m, "weight") and m.weight is not None and m.weight.ndim == 2:
                m.weight.mul_(4.0)
    imp, lossy = _import(lib, _file(lib, net, "mlp", tmp_path))
    assert imp.record.source == name and lossy
    assert imp.record.assumptions and all("assumed" in a for a in imp.record.assumptions)
    x, _, _ = digits
    seq = sequence(x, IN_SHAPES["mlp"])
    res = rung_s(imp.graph, imp.record, lib.run(net, seq), seq.numpy())
    assert not res.passed and res.first_divergence is not None, res.summary()
    assert res.settings["assumptions"] == list(imp.record.assumptions)


def test_rockpool_import_deploys(libs, digits, tmp_path):
    """Rockpool's export is lossy (rung S above), but what it states imports without edits
    and the imported graph deploys: quantised, rung 2 (Lava, bit-exact) and rung 3 pass."""
    from exporters.lava.rung2 import rung2_fixed
    from exporters.onnx import rung3
    from hwsim.sim import simulate
    from toolchain.fold import to_lava_timing
    from toolchain.quantize import quantize

    lib = libs["rockpool"]
    imp, lossy = _import(lib, _file(lib, lib.build("mlp"), "mlp", tmp_path))
    assert imp.record.source == "rockpool" and lossy
    x, y, calib = digits
    q = quantize(imp.graph, calib.reshape(len(calib), 64).numpy().astype(np.float64))
    xs = x.reshape(len(x), 64).numpy()
    hidden = [k for k, n in q.graph.nodes.items() if n.kind == "LIF"]
    spikes = simulate(q.graph, xs.astype(np.float64), record=hidden).records
    assert all(spikes[k].sum() > 0 for k in hidden)  # it spikes: the checks have teeth
    r2 = rung2_fixed(to_lava_timing(q.graph), xs[:3], labels=y[:3].numpy())
    assert r2.passed, r2.summary()
    r3 = rung3(q.graph, xs, labels=y.numpy(), reference_samples=2)
    assert r3.passed, r3.summary()


def test_library_limits_as_documented(libs, tmp_path):
    """The libraries' own limits that docs/interop.md states (each fails the same way here)."""
    from hwsim.errors import ExportError

    snn, norse, sj = libs["snntorch"], libs["norse"], libs["spikingjelly"]
    from snntorch.export_nir import export_to_nir

    with pytest.raises(ValueError, match="Type inference error"):  # snnTorch issue #410
        export_to_nir(snn.build("mlp"), torch.zeros(1, 64))
    conv = norse.export(norse.build("conv"), (1, 8, 8))  # Norse's to_nir has no Flatten:
    assert [k for k, n in conv.nodes.items() if n is None] == ["2"]  # ... an empty node
    with pytest.raises(AttributeError, match="to_dict"):
        nir.write(tmp_path / "norse_conv.nir", conv)
    with pytest.raises(ExportError, match="node '2' is empty"):
        import_nir(conv, T=T, source="norse")
    with pytest.raises(TypeError, match="Scalar datasets"):  # nir.write of scalar parameters
        nir.write(tmp_path / "norse.nir", norse.export(norse.build("mlp"), (64,)))
    with pytest.raises(NotImplementedError, match="soft reset"):  # SpikingJelly
        sj.export(sj.build("mlp", soft=True), (64,))


def test_norse_tau_convention_is_corrected(libs, tmp_path):
    """Norse writes tau = dt/tau_mem_inv (its issue #411): read as NIR, dt = 1e-3 makes no
    decay in [0, 1); with source='norse' the decay is Norse's 1 - dt·tau_mem_inv = 0.8."""
    from hwsim.errors import ExportError

    lib = libs["norse"]
    ng = _file(lib, lib.build("mlp"), "mlp", tmp_path)
    with pytest.raises(ExportError, match="does not state its time step"):
        import_nir(ng, T=T)
    with pytest.raises(ExportError, match="outside"):
        import_nir(ng, T=T, dt=1e-3)
    g = import_nir(ng, T=T, source="norse").graph
    assert [g.nodes[k].decay for k in ("n1", "n3")] == pytest.approx([0.8, 0.8], abs=1e-6)
    assert g.nodes["input"].shape == (64,)  # Norse's Input [1, 64]: the batch axis dropped
