"""A leaky-integrator population (non-spiking; its output is the graded membrane ``v``)."""
