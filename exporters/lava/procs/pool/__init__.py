"""Sum and average pooling without latency (``Pool``)."""
