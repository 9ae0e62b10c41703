"""Hardware graph <-> NIR 1.0, and NIR graphs run in Norse (rung 4 of the verification ladder).

* :func:`to_nir` / :func:`from_nir`: float ``ideal``-timing graph <-> ``nir.NIRGraph``
  (:mod:`.export`, :mod:`.importer`; the LIF parameter derivation is in :mod:`.export`);
  :func:`import_nir` also returns the :class:`ImportRecord` (names, conventions, decisions)
  of a file another library wrote (:mod:`.conventions`: each library's reading of NIR).
* :func:`nir_violations`: everything NIR 1.0 cannot express in a graph, as a list.
* :func:`write_nir` / :func:`read_nir`: the same through an HDF5 ``.nir`` file (:mod:`.files`).
* :func:`run_nir_norse`: a NIR graph executed by Norse in float64 (:mod:`.norse_runner`).
* :func:`rung4`: hwsim float spikes vs Norse's, layer by layer (:mod:`.rung4`).
* :func:`rung_s`: an imported graph vs the source library's own spikes (:mod:`.rung_s`).

``docs/nir.md`` has the mapping table and what NIR 1.0 cannot express.
"""

from .conventions import SOURCES, LossyImportWarning
from .export import DEFAULT_DT, lif_to_nir_params, nir_violations, to_nir
from .files import load_nir_graph, read_nir, save_nir_graph, write_nir
from .importer import ImportRecord, NirImport, from_nir, import_nir
from .norse_runner import NORSE_KINDS, NorseRun, run_nir_norse
from .rung4 import magnitude_graph, rung4
from .rung_s import load_reference, rung_s

__all__ = [
    "DEFAULT_DT",
    "NORSE_KINDS",
    "SOURCES",
    "ImportRecord",
    "LossyImportWarning",
    "NirImport",
    "NorseRun",
    "from_nir",
    "import_nir",
    "load_reference",
    "nir_violations",
    "rung_s",
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
