"""Exporters: hardware graph -> Lava process graph, ONNX spiking IR, NIR (and back where possible).

Importing this package installs the Python 3.11 compatibility shim for lava-nc 0.10.0
(``exporters._lava_compat``, DESIGN.md section 9) before any Lava module is imported.
"""

from exporters._lava_compat import install as _install_lava_compat

_install_lava_compat()
