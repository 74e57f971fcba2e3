"""Cells below both the generator and the baselines: the CPU-fast dense layer and the Transformer blocks."""
from .attention import NEG, EncoderLayer, FeedForward, MultiHeadAttention
from .dense import Dense, create_dense

__all__ = ["NEG", "Dense", "EncoderLayer", "FeedForward", "MultiHeadAttention", "create_dense"]
