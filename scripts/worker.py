"""Entry point for msrun workers: ``msrun ... scripts/worker.py COMMAND CONFIG [...]`` runs ``python -m cost_ms``."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cost_ms.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
