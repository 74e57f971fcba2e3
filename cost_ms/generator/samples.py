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


def causal_row(items, item_tok):
    """Decoding input of a causal generator: ``BOS`` + the history's tokens, ``[1 + h * L] int32``."""
    return np.concatenate([[BOS], item_tok[np.asarray(items, np.int64)].reshape(-1)]).astype(np.int32)


def causal_ids(items, length, width):
    """The item-id channel beside :func:`causal_row`: ``[width] int32``, item index + 1 at the position of each
    item's last token (``(j + 1) * L`` for item ``j``; 0 elsewhere), where the item is complete."""
    ids = np.zeros(width, np.int32)
    ids[np.arange(1, len(items) + 1) * length] = np.asarray(items, np.int64) + 1
    return ids


class WindowBuilder:
    """Training rows and decoding inputs of the causal generator (:mod:`.causal`).

    A training sequence of ``n`` items becomes windows of at most ``max_history + 1`` items: the first starts at
    item 0, each next one ends ``stride`` items later (the last at item ``n``). A window trains only the targets no
    earlier window trained (the first: items 1..; item 0 has no history), so every target of the sequence is
    trained exactly once, with at least ``max_history + 1 - stride`` items of context once past the first window:
    the same targets as TIGER's one-sample-per-prefix, which the tests check loss for loss.
    """

    def __init__(self, item_tok, max_history, stride):
        self.item_tok, self.max_history, self.stride = item_tok, max_history, stride
        self.length = item_tok.shape[1]

    def windows(self, n):
        """``(start, end, first_target)`` item ranges of a sequence of ``n`` items."""
        span, out, trained = self.max_history + 1, [], 1
        end = min(n, span)
        while True:
            out.append((max(0, end - span), end, trained))
            if end == n:
                return out
            trained, end = end, min(n, end + self.stride)

    def training(self, train_seqs):
        """``tokens, ids, target [R, (max_history + 1) * L] int32``, ``weight [R, ...] float32`` (right-padded) and
        ``items [R]`` (items in each window, history and target). ``ids``: :func:`causal_ids` of every item of the
        window but the last (whose last token is never an input)."""
        width = (self.max_history + 1) * self.length
        rows = [(seq, w) for seq in train_seqs.values() if len(seq) >= 2 for w in self.windows(len(seq))]
        if not rows:
            raise CostError("no training samples: every user's training part has fewer than 2 items")
        tokens = np.zeros((len(rows), width), np.int32)
        ids = np.zeros((len(rows), width), np.int32)
        target = np.zeros((len(rows), width), np.int32)
        weight = np.zeros((len(rows), width), np.float32)
        items = np.zeros(len(rows), np.int64)
        for r, (seq, (start, end, first)) in enumerate(rows):
            flat = self.item_tok[np.asarray(seq[start:end], np.int64)].reshape(-1)
            m = len(flat)
            tokens[r, 0], tokens[r, 1:m] = BOS, flat[:-1]
            ids[r] = causal_ids(seq[start:end - 1], self.length, width)
            target[r, :m] = flat
            weight[r, (first - start) * self.length:m] = 1.0
            items[r] = end - start
        return tokens, ids, target, weight, items

    def evaluation(self, histories, targets):
        """``src [U, 2, 1 + max_history * L]``: BOS + the last ``max_history`` items' tokens (right-padded) and
        their :func:`causal_ids`; ``targets [U]``; users in the given order."""
        users = list(histories)
        empty = [u for u in users if len(histories[u]) == 0]
        if empty:
            raise CostError(f"{len(empty)} user(s) have an empty history (e.g. {empty[0]})")
        width = 1 + self.max_history * self.length
        src = np.zeros((len(users), 2, width), np.int32)
        for r, u in enumerate(users):
            hist = list(histories[u])[-self.max_history:]
            row = causal_row(hist, self.item_tok)
            src[r, 0, :len(row)] = row
            src[r, 1] = causal_ids(hist, self.length, width)
        return users, src, np.asarray([targets[u] for u in users], np.int64)
