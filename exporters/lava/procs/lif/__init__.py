"""A LIF or current-based LIF population with soft or hard reset and a per-step threshold
schedule."""
