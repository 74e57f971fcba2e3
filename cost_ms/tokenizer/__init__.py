"""Semantic tokenizers, one object per method (``tokenizer.method``), registered once (:mod:`.method`).

``rqvae`` (:mod:`.method_rqvae`) trains the RQ-VAE with ``tokenizer.loss``; ``simcit`` (:mod:`.method_simcit`)
trains SimCIT on the views ``tokenizer.views``; ``random`` (:mod:`.method_random`) hashes items to random codes.
:func:`~.run.run_tokenize` runs the configured one and writes semantic IDs and the report. This package imports
no MindSpore: the config loader asks the methods to check their keys.
"""
from . import method_random, method_rqvae, method_simcit  # noqa: F401  (each registers its method)
from .method import TOKENIZERS, TokenizerMethod, get_method, register

__all__ = ["TOKENIZERS", "TokenizerMethod", "get_method", "register"]
