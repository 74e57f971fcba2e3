"""Everything the generator derives from (config, data, semantic IDs), without a network.

Vocabulary, item tokens, training/evaluation samples, the prefix trie and the leave-one-out
splits: what training, evaluation and ``recommend`` all need, built in one place.
"""
import hashlib

import numpy as np

from ..data.splits import Splits
from .beam_search import PrefixIndex
from .samples import SampleBuilder
from .vocab import Vocab


def semantic_ids_hash(sid):
    return hashlib.sha1(np.ascontiguousarray(sid, np.int64).tobytes()).hexdigest()[:12]


class GeneratorInputs(Splits):
    """``sid [N, L]`` unique code tuples (dedup level included) of ``prep``'s items."""

    def __init__(self, cfg, prep, sid):
        super().__init__(prep)
        gc = cfg.generator
        self.cfg, self.gc, self.sid = cfg, gc, sid
        self.vocab = Vocab.from_semantic_ids(sid, cfg.tokenizer.codebook_size, gc.user_buckets)
        self.item_tok = self.vocab.item_tokens(sid)
        self.builder = SampleBuilder(self.item_tok, gc.max_history, self.vocab)
        self.src_len = gc.max_history * self.vocab.length + (1 if gc.user_buckets else 0)
        # history lengths (items) that training batches are cropped to, and beam-search batches too; the config
        # refuses buckets above max_history, which is always the last
        self.buckets = sorted(set(gc.length_buckets) | {gc.max_history})
        if gc.user_buckets:
            self.buckets = [gc.max_history]    # the user token sits in column 0; cropping would cut it
        self.src_widths = [b * self.vocab.length for b in self.buckets[:-1]] + [self.src_len]
        self.index = PrefixIndex(sid, self.vocab.level_sizes)
        self.sid_hash = semantic_ids_hash(sid)
