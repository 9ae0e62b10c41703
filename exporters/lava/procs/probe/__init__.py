"""A sink that writes what it receives into a memory-mapped ``.npy`` file (``Probe``)."""
