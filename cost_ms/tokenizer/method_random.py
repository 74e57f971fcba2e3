"""``random``: each item hashed to uniform random codes (seeded), the floor every learned tokenizer must beat."""
import numpy as np

from .method import TokenizerMethod, register


class RandomMethod(TokenizerMethod):
    name = "random"

    def tag(self, tc, model_tag):
        return "random"             # depends on no embedding

    def train(self, tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50,
              views=None):
        rng = np.random.default_rng(seed)
        return rng.integers(0, tc.codebook_size, (len(emb), tc.levels)), [], {}


register(RandomMethod())
