"""cost-ms: semantic tokenization (CoST / RQ-VAE) and generative recommendation (TIGER) in MindSpore."""

__version__ = "0.1.0"

from .errors import CostError  # noqa: F401
