"""Shared test setup.

Every test starts from the same global RNG state, whatever ran before it in the same worker
(pytest-xdist distributes tests differently from run to run), so a test that builds a network
without seeding it still sees the same initial weights every time.
"""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_global_rngs():
    random.seed(0)
    np.random.seed(0)  # noqa: NPY002 - seeds code under test that uses the legacy global RNG
    torch.manual_seed(0)
    yield
