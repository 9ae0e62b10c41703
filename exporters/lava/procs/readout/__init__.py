"""The non-spiking readout accumulator (``Readout``)."""
