"""spikefold's own NIR export read back by each library's own importer reproduces hwsim's spikes
(issue 11; docs/interop.md gives the dt and mode each reader needs). The graphs are the
libraries' own nets after import (so each reader meets only node kinds it imports)."""

from __future__ import annotations

import warnings

import pytest
import torch

from exporters.nir_export import LossyImportWarning, import_nir, to_nir
from hwsim.verify import rung0

from .conftest import IN_SHAPES, T, sequence


def _imported(lib, kind):
    net = lib.build(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossyImportWarning)
        ng = lib.export(net, IN_SHAPES[kind])
        return import_nir(ng, T=T, source=lib.source, encoding="direct").graph


def _record(module, g):
    """Forward hooks on the submodules the reader built for ``g``'s LIF nodes (nirtorch names
    them after the NIR nodes): ``{graph node: [spikes per call]}``."""
    from nirtorch.utils import sanitize_name

    by_module = {sanitize_name(n): n for n, v in g.nodes.items() if v.kind == "LIF"}
    rec, handles = {}, []
    for mname, m in module.named_children():
        node = by_module.get(mname)
        if node is not None:
            rec[node] = []
            handles.append(m.register_forward_hook(
                lambda _m, _i, o, k=node: rec[k].append((o[0] if isinstance(o, tuple) else o)
                                                        .detach())))  # fmt: skip
    return rec, handles


def _run_snntorch(ng, g, seq):
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    m = import_from_nir(ng)
    rec, hs = _record(m, g)
    with torch.no_grad():
        utils.reset(m)
        for t in range(T):
            m(seq[t])
    return rec, hs


def _stepped(m, g, seq):
    """Run a reader's module step by step, threading its state: ``out, state = m(x, state)``
    (Norse's and SpikingJelly's imported graphs both work this way)."""
    rec, hs = _record(m, g)
    state = None
    with torch.no_grad():
        for t in range(T):
            _, state = m(seq[t], state)
    return rec, hs


def _run_norse(ng, g, seq):
    from norse.torch import from_nir

    return _stepped(from_nir(ng, dt=float(ng.metadata["dt"])), g, seq)


def _run_spikingjelly(ng, g, seq):
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    return _stepped(import_from_nir(ng, dt=float(ng.metadata["dt"])), g, seq)


def _run_sinabs(ng, g, seq):
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, SingleSpike

    m = sinabs.from_nir(ng, num_timesteps=T)
    for layer in m.modules():  # its importer ignores v_reset: docs/interop.md
        if isinstance(layer, sl.IAFSqueeze):
            layer.spike_fn, layer.reset_fn, layer.min_v_mem = SingleSpike, MembraneReset(), None
    rec, hs = _record(m, g)
    b = seq.shape[1]
    with torch.no_grad():
        m(seq.transpose(0, 1).reshape(b * T, *seq.shape[2:]))
    for k, v in rec.items():  # one call on [B*T, ...]: back to per-step [B, ...]
        rec[k] = list(v[0].reshape(b, T, *v[0].shape[1:]).transpose(0, 1))
    return rec, hs


READERS = {
    # (library, built net): (spikefold export options, reader)
    ("snntorch", "mlp"): (dict(dt=1e-4), _run_snntorch),
    # a conv net with a dense head: the Flatten counted from the end keeps the batch axis
    ("snntorch", "conv"): (dict(dt=1e-4), _run_snntorch),
    ("norse", "mlp"): (dict(dt=1e-3, portable=True), _run_norse),
    ("spikingjelly", "conv"): (dict(dt=1e-4), _run_spikingjelly),
    ("sinabs", "conv"): (dict(dt=1.0, portable=True), _run_sinabs),
}


@pytest.mark.parametrize(("name", "kind"), sorted(READERS))
def test_library_reads_spikefold_export_and_reproduces_hwsim(libs, digits, name, kind):
    options, reader = READERS[(name, kind)]
    g = _imported(libs[name], kind)
    ng = to_nir(g, **options)
    x, _, _ = digits
    seq = sequence(x, IN_SHAPES[kind])
    rec, hs = reader(ng, g, seq)
    for h in hs:
        h.remove()
    ref = {k: torch.stack(v).numpy().reshape(T, len(x), *g.shapes()[k]) for k, v in rec.items()}
    lifs = [k for k, v in g.nodes.items() if v.kind == "LIF"]
    assert sorted(ref) == sorted(lifs) and sum(int(v.sum()) for v in ref.values()) > 0
    res = rung0(g, seq.reshape(T, len(x), *g.nodes[g.input_names()[0]].shape).numpy(), ref)
    assert res.passed and all(la.mismatches == 0 for la in res.layers.values()), res.summary()


def test_rockpool_cannot_read_a_nir_lif(libs):
    """Rockpool 3.1.0's from_nir reads nir.LIF's time constant as ``tau_mem`` (CubaLIF's
    field): every LIF graph fails (docs/interop.md)."""
    from rockpool.nn.modules.torch.nir import from_nir

    g = _imported(libs["rockpool"], "mlp")
    with pytest.raises(AttributeError, match="tau_mem"):
        from_nir(to_nir(g, dt=1e-3))


def test_without_portable_norse_misses_the_gain(libs, digits):
    """The default export writes R = 1/(1 - a), which Norse drops: far fewer hidden spikes."""
    g = _imported(libs["norse"], "mlp")
    x, _, _ = digits
    seq = sequence(x, (64,))
    counts = []
    for portable in (True, False):
        rec, hs = _run_norse(to_nir(g, dt=1e-3, portable=portable), g, seq)
        for h in hs:
            h.remove()
        counts.append(int(torch.stack(rec["n1"]).sum()))
    assert counts[1] < counts[0] / 2, counts
