"""The encoded dataset as a Lava process (``EncodedSource``)."""
