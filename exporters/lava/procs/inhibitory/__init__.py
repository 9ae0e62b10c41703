"""The E-I circuit's inhibitory population: graded spikes (``Inhibitory``)."""
