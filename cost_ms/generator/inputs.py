"""Everything the generator derives from (config, data, semantic IDs), without a network.

Vocabulary, item tokens, training/evaluation samples, the prefix trie and the leave-one-out
splits: what training, evaluation and ``recommend`` all need, built in one place.
"""
import hashlib

import numpy as np

from ..architectures import get_arch
from ..data.splits import Splits
from .beam_search import PrefixIndex
from .vocab import Vocab


def semantic_ids_hash(sid):
    return hashlib.sha1(np.ascontiguousarray(sid, np.int64).tobytes()).hexdigest()[:12]


class GeneratorInputs(Splits):
    """``sid [N, L]`` unique code tuples (dedup level included) of ``prep``'s items; ``arch`` the generator
    architecture (:mod:`cost_ms.architectures`), which shapes the samples and the decoding inputs."""

    def __init__(self, cfg, prep, sid):
        super().__init__(prep)
        gc = cfg.generator
        self.cfg, self.gc, self.sid = cfg, gc, sid
        self.arch = get_arch(gc)
        self.vocab = Vocab.from_semantic_ids(sid, cfg.tokenizer.codebook_size, gc.user_buckets)
        self.item_tok = self.vocab.item_tokens(sid)
        self.builder = self.arch.builder(self.item_tok, gc, self.vocab)
        self.src_len = self.arch.src_len(gc, self.vocab)
        # history lengths (items) that training batches are cropped to, and beam-search batches too; the config
        # refuses buckets above max_history, which is always the last
        self.buckets = sorted(set(gc.length_buckets) | {gc.max_history})
        if gc.user_buckets:
            self.buckets = [gc.max_history]    # the user token sits in column 0; cropping would cut it
        self.src_widths = self.arch.src_widths(self.buckets, self.vocab, self.src_len)
        self.index = PrefixIndex(sid, self.vocab.level_sizes)
        self.sid_hash = semantic_ids_hash(sid)
