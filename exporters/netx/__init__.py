"""lava-dl NetX: the fixed graph as the HDF5 network file that lava-dl's NetX
(``lava.lib.dl.netx.hdf5.Network``) turns into Lava processes, for Loihi 2 (``Loihi2HwCfg``)
or Lava's simulator (``Loihi2SimCfg``). ``docs/loihi.md`` is the reference.

    from exporters.netx import netx_violations, write_netx, read_netx, rung2n

    netx_violations(graph)          # [] when NetX can express the graph (else every reason)
    write_netx(graph, "m.netx.h5")  # ExportError listing every violation when it cannot
    g = read_netx("m.netx.h5")      # back into spikefold's graph (fixed, lava timing)
    r = rung2n(graph, x, path="m.netx.h5")   # NetX in Lava fixed_pt vs hwsim, bit for bit

Importing this package imports neither Lava nor lava-dl; :mod:`exporters.netx.runner` (and
:func:`rung2n` when it runs) does, through the import shim (``exporters/_lava_compat.py``).
"""

from exporters.netx.format import (
    NETX_VERSION,
    READOUT_VTH,
    netx_bias,
    netx_layers,
    netx_violations,
    read_netx,
    write_netx,
)
from exporters.netx.rung import RUNG, TITLE, netx_timing, rung2n

__all__ = [
    "NETX_VERSION",
    "READOUT_VTH",
    "RUNG",
    "TITLE",
    "netx_bias",
    "netx_layers",
    "netx_timing",
    "netx_violations",
    "read_netx",
    "rung2n",
    "write_netx",
]
