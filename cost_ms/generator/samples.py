"""Turning user histories into fixed-shape encoder inputs.

The encoder sees the last ``max_history`` items, each as its ``L`` tokens, flattened and
left-padded with ``PAD`` (so the most recent item always sits at the end), plus an
optional user token in front. Every prefix of a training sequence predicts its next item.
"""
import numpy as np

from ..errors import CostError
from .vocab import BOS, PAD


def encode_history(items, item_tok, max_history, user_tok=None):
    """``items``: item indices, oldest first -> ``[enc_len] int32`` tokens."""
    length = item_tok.shape[1]
    row = np.full(max_history * length + (user_tok is not None), PAD, np.int32)
    hist = items[-max_history:]
    if len(hist):
        row[len(row) - len(hist) * length:] = item_tok[np.asarray(hist)].reshape(-1)
    if user_tok is not None:
        row[0] = user_tok
    return row


def decoder_io(target_tok):
    """Teacher forcing: input ``[BOS, t_0, .., t_{L-2}]``, target ``[t_0, .., t_{L-1}]``."""
    dec_in = np.concatenate([np.full((len(target_tok), 1), BOS, np.int32), target_tok[:, :-1]], axis=1)
    return dec_in, target_tok


class SampleBuilder:
    def __init__(self, item_tok, max_history, vocab=None):
        self.item_tok, self.max_history = item_tok, max_history
        self.vocab = vocab if vocab is not None and vocab.user_buckets else None

    def _user(self, user):
        return self.vocab.user_token(user) if self.vocab is not None else None

    def training(self, train_seqs):
        """Every prefix (>= 1 item) of each training sequence with its next item.

        Returns ``src [S, enc_len] int32`` and ``target [S] int`` item indices.
        """
        src, tgt = [], []
        for user, seq in train_seqs.items():
            u = self._user(user)
            for t in range(1, len(seq)):
                src.append(encode_history(seq[:t], self.item_tok, self.max_history, u))
                tgt.append(seq[t])
        if not src:
            raise CostError("no training samples: every user's training part has fewer than 2 items")
        return np.stack(src), np.asarray(tgt, np.int64)

    def evaluation(self, histories, targets):
        """``histories[u]`` -> ``src [U, enc_len]``, ``targets[u]`` -> ``[U]``; users in sorted order."""
        users = list(histories)
        empty = [u for u in users if len(histories[u]) == 0]
        if empty:
            raise CostError(f"{len(empty)} user(s) have an empty history (e.g. {empty[0]})")
        src = np.stack([encode_history(histories[u], self.item_tok, self.max_history, self._user(u)) for u in users])
        return users, src, np.asarray([targets[u] for u in users], np.int64)
