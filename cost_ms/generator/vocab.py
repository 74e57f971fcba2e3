"""Token vocabulary of the generative retriever (TIGER sec. 3.2).

One token per (level, code) for the M code levels and the dedup level, plus
``pad``/``bos``/``eos`` and, optionally, ``user_buckets`` hashed user tokens::

    0 pad | 1 bos | 2 eos | level 0 codes | level 1 codes | ... | dedup codes | users
"""
import zlib

import numpy as np

PAD, BOS = 0, 1
N_SPECIAL = 3      # pad, bos and token 2 (eos), which no item sequence uses but the token ids keep


class Vocab:
    def __init__(self, level_sizes, user_buckets=0):
        self.level_sizes = [int(s) for s in level_sizes]
        self.offsets = N_SPECIAL + np.concatenate([[0], np.cumsum(self.level_sizes)[:-1]]).astype(np.int64)
        self.user_offset = N_SPECIAL + int(sum(self.level_sizes))
        self.user_buckets = int(user_buckets)
        self.size = self.user_offset + self.user_buckets

    @classmethod
    def from_semantic_ids(cls, sid, codebook_size, user_buckets=0):
        """``sid [N, M+1]``: M levels of ``codebook_size`` codes, then the dedup column."""
        m = sid.shape[1] - 1
        return cls([codebook_size] * m + [int(sid[:, -1].max()) + 1], user_buckets)

    @property
    def length(self):
        """Tokens per item."""
        return len(self.level_sizes)

    def item_tokens(self, sid):
        """``sid [N, L]`` codes -> ``[N, L]`` token ids."""
        return (np.asarray(sid, np.int64) + self.offsets[None, :]).astype(np.int32)

    def level_slice(self, level):
        start = int(self.offsets[level])
        return slice(start, start + self.level_sizes[level])

    def user_token(self, user):
        """Stable hash of the user id into ``user_buckets`` tokens (crc32, not Python's salted hash)."""
        return self.user_offset + zlib.crc32(str(user).encode()) % self.user_buckets
