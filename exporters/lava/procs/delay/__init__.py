"""A pure delay line; with several inputs, the SEW residual ``Add`` (``Delay``)."""
