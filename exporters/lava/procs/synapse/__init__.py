"""Dense, conv and 1x1 channel-mixing synapses with exponents and biases (``Synapse``)."""
