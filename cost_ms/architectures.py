"""Generator architectures: one object per ``generator.arch``, registered once.

An :class:`Architecture` checks its own config keys (at config load), names its run folder, builds its network
and loss cell, turns training sequences into batches and histories into decoding inputs, and gives the beam
search its decoder. Nothing else branches on ``generator.arch``: the trainer, the evaluator, ``recommend`` and the
stage folders ask the architecture. Network modules are imported inside the methods, so loading a config never
imports MindSpore.

* ``tiger``: TIGER's encoder-decoder (Rajput et al., NeurIPS'23): one sample per (user, history prefix).
* ``causal``: a decoder-only Transformer over the flattened tokens of a user's items, every next item of a
  sequence trained in one pass (:mod:`cost_ms.generator.causal`).
"""
from dataclasses import dataclass

import numpy as np

from .errors import CostError
from .registry import Registry

ARCHS = Registry("generator architecture")


@dataclass
class TrainingData:
    """``tensors``: the loss cell's inputs, one row per sample; ``history [R]``: items of history a row needs (its
    length bucket); ``row_targets [R]``: next items each row trains (TIGER: one; causal: those of its window)."""
    tensors: tuple
    history: np.ndarray
    row_targets: np.ndarray

    @property
    def targets(self):
        return int(self.row_targets.sum())


class Architecture:
    name = ""

    def check(self, gc):
        """Raise :class:`CostError` when ``gc`` (the ``generator`` section) is bad for this architecture."""

    def settings(self, gc):
        """The ``generator`` keys that shape this architecture's training (its checkpoints' resume key)."""
        return {k: v for k, v in gc.to_dict().items() if k != "ckpt_every_steps"}

    def folder(self, tokenizer_tag):
        """The train stage's folder name under the run folder."""
        return f"generator-{self.name}-{tokenizer_tag}"

    def network(self, gc, vocab, num_items):
        raise NotImplementedError

    def with_loss(self, net):
        raise NotImplementedError

    def builder(self, item_tok, gc, vocab):
        """An object with ``training(train_seqs)`` and ``evaluation(histories, targets) -> (users, src, targets)``."""
        raise NotImplementedError

    def src_len(self, gc, vocab):
        """Columns of a decoding input."""
        raise NotImplementedError

    def src_widths(self, buckets, vocab, src_len):
        """The narrower decoding-input widths, one per length bucket (the last is ``src_len``)."""
        raise NotImplementedError

    def training(self, builder, train_seqs, vocab):
        """:class:`TrainingData` of the training sequences."""
        raise NotImplementedError

    def crop(self, tensors, idx, bucket, length):
        """Rows ``idx`` of ``tensors``, cut to histories of ``bucket`` items (``length`` tokens each)."""
        raise NotImplementedError

    def need(self, src):
        """``[U]`` columns each decoding input needs (the batch is cropped to the widest)."""
        raise NotImplementedError

    def crop_src(self, src, width):
        raise NotImplementedError

    def decoder(self, net, beams):
        """The beam search's network side: ``start(src) -> (logp [B, V], context)`` and
        ``advance(t, tok [B * beams, 1], context, parent [B * beams]) -> logp [B * beams, V]``."""
        raise NotImplementedError

    def export_cells(self, net, beams, length):
        """The decoder's graphs as flat-input cells for an export, one per level (:mod:`cost_ms.deploy.cells`)."""
        raise NotImplementedError


class Tiger(Architecture):
    name = "tiger"

    def settings(self, gc):
        # without the keys added with the causal generator, which TIGER does not read: checkpoints made before
        # them keep their resume key
        return {k: v for k, v in super().settings(gc).items() if k not in ("arch", "window_stride", "item_embedding")}

    def check(self, gc):
        if gc.item_embedding:
            raise CostError("generator.item_embedding needs generator.arch causal")

    def folder(self, tokenizer_tag):
        return f"generator-{tokenizer_tag}"        # the name runs had before there was a second architecture

    def network(self, gc, vocab, num_items):
        from .generator.transformer import create_model
        return create_model(gc, vocab.size, self.src_len(gc, vocab), vocab.length)

    def with_loss(self, net):
        from .generator.transformer import Seq2SeqWithLoss
        return Seq2SeqWithLoss(net)

    def builder(self, item_tok, gc, vocab):
        from .generator.samples import SampleBuilder
        return SampleBuilder(item_tok, gc.max_history, vocab)

    def src_len(self, gc, vocab):
        return gc.max_history * vocab.length + (1 if gc.user_buckets else 0)

    def src_widths(self, buckets, vocab, src_len):
        return [b * vocab.length for b in buckets[:-1]] + [src_len]

    def training(self, builder, train_seqs, vocab):
        from .generator.samples import decoder_io
        src, target_items = builder.training(train_seqs)
        dec_in, target = decoder_io(builder.item_tok[target_items])
        return TrainingData((src, dec_in, target), (src != 0).sum(1) // vocab.length, np.ones(len(src), np.int64))

    def crop(self, tensors, idx, bucket, length):
        src, dec_in, target = tensors
        return src[idx][:, -bucket * length:], dec_in[idx], target[idx]

    def need(self, src):
        return src.shape[1] - np.argmax(src != 0, axis=1)   # from the first non-pad token (left-padded rows)

    def crop_src(self, src, width):
        s = src.shape[1]
        return src[:, s - min(width, s):]

    def decoder(self, net, beams):
        from .generator.decoders import TigerDecoder
        return TigerDecoder(net, beams)

    def export_cells(self, net, beams, length):
        from .deploy.cells import tiger_cells
        return tiger_cells(net, beams, length)


class Causal(Architecture):
    name = "causal"

    def check(self, gc):
        if gc.user_buckets:
            raise CostError("generator.user_buckets must be 0 with generator.arch causal (no user token there)")
        if not 1 <= gc.window_stride <= gc.max_history:
            raise CostError(f"generator.window_stride must be in 1..generator.max_history ({gc.max_history}), "
                            f"got {gc.window_stride!r}")

    def settings(self, gc):
        # item_embedding off leaves the key out: causal checkpoints made before the key existed keep resuming
        out = super().settings(gc)
        if not gc.item_embedding:
            del out["item_embedding"]
        return out

    def network(self, gc, vocab, num_items):
        from .generator.causal import create_causal
        return create_causal(gc, vocab, num_items)

    def with_loss(self, net):
        from .generator.causal import CausalWithLoss
        return CausalWithLoss(net)

    def builder(self, item_tok, gc, vocab):
        from .generator.samples import WindowBuilder
        return WindowBuilder(item_tok, gc.max_history, gc.window_stride)

    def src_len(self, gc, vocab):
        return 1 + gc.max_history * vocab.length

    def src_widths(self, buckets, vocab, src_len):
        return [1 + b * vocab.length for b in buckets[:-1]] + [src_len]

    def training(self, builder, train_seqs, vocab):
        tokens, ids, target, weight, items = builder.training(train_seqs)
        return TrainingData((tokens, ids, target, weight), items - 1,
                            np.rint(weight.sum(1) / vocab.length).astype(np.int64))

    def crop(self, tensors, idx, bucket, length):
        width = (bucket + 1) * length
        return tuple(t[idx][:, :width] for t in tensors)

    def need(self, src):
        return (src[:, 0] != 0).sum(1)       # right-padded rows [U, 2, S]: BOS + the history's tokens

    def crop_src(self, src, width):
        return src[..., :width]

    def decoder(self, net, beams):
        from .generator.decoders import CausalDecoder
        return CausalDecoder(net, beams)

    def export_cells(self, net, beams, length):
        from .deploy.cells import causal_cells
        return causal_cells(net, beams, length)


ARCHS.register(Tiger.name)(Tiger())
ARCHS.register(Causal.name)(Causal())


def get_arch(gc):
    """The registered architecture of ``gc.arch`` (a one-line error naming the choices when unknown)."""
    return ARCHS.get(gc.arch)
