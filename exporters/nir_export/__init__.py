"""Hardware graph <-> NIR 1.0, and NIR graphs run in Norse (rung 4 of the verification ladder).

* :func:`to_nir` / :func:`from_nir`: float ``ideal``-timing graph <-> ``nir.NIRGraph``
  (:mod:`.export`, :mod:`.importer`; the LIF parameter derivation is in :mod:`.export`).
* :func:`write_nir` / :func:`read_nir`: the same through an HDF5 ``.nir`` file (:mod:`.files`).
* :func:`run_nir_norse`: a NIR graph executed by Norse in float64 (:mod:`.norse_runner`).
* :func:`rung4`: hwsim float spikes vs Norse's, layer by layer (:mod:`.rung4`).

``docs/nir.md`` has the mapping table and what NIR 1.0 cannot express.
"""

from .export import DEFAULT_DT, lif_to_nir_params, to_nir
from .files import load_nir_graph, read_nir, save_nir_graph, write_nir
from .importer import from_nir
from .norse_runner import NORSE_KINDS, NorseRun, run_nir_norse
from .rung4 import magnitude_graph, rung4

__all__ = [
    "DEFAULT_DT",
    "NORSE_KINDS",
    "NorseRun",
    "from_nir",
    "lif_to_nir_params",
    "load_nir_graph",
    "magnitude_graph",
    "read_nir",
    "run_nir_norse",
    "rung4",
    "save_nir_graph",
    "to_nir",
    "write_nir",
]
