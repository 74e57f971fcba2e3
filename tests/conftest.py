import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
SHARED = os.environ.get("COST_MS_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))


def base_config(*overrides):
    """``configs/base.yaml`` (with ``--set`` style ``overrides``) as a Config; a test changes a section with
    ``.replace(key=value)``."""
    from cost_ms.config import load_config
    return load_config(os.path.join(ROOT, "configs", "base.yaml"), list(overrides))


def shared(name):
    """Path of a real data set under ../shared/data, or skip the test when it is absent."""
    path = os.path.join(SHARED, name)
    if not os.path.isdir(path):
        pytest.skip(f"../shared/data/{name} not available")
    return path


@pytest.fixture(params=["graph", "pynative"])
def ms_mode(request):
    from cost_ms.runtime import init_runtime
    init_runtime("CPU", request.param, seed=0)
    yield request.param
    init_runtime("CPU", "graph")


@pytest.fixture
def graph_mode():
    from cost_ms.runtime import init_runtime
    init_runtime("CPU", "graph", seed=0)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
