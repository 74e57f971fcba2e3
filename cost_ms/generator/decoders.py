"""Each architecture's network side of the beam search (:class:`~.beam_search.BeamSearcher`): an object with
``start(src) -> (logp [B, V], context)`` and ``advance(t, tok [B * beams, 1], context, parent [B * beams]) -> logp``
over the trained network's cached decoding cells. A loaded export has its own (:mod:`cost_ms.deploy.graphs`)."""
import numpy as np
from mindspore import Tensor, mutable

from .incremental import CrossMemory, DecodeStep
from .vocab import BOS


class TigerDecoder:
    """The beam search's network side for TIGER's encoder-decoder (incremental decoding, :mod:`.incremental`):
    the encoder and each layer's cross-attention keys/values once per user, then one token per step."""

    def __init__(self, net, beams):
        self.memory = CrossMemory(net)
        self.first = DecodeStep(net, 1, first=True)   # at the root all W hypotheses are the same: score one
        self.step = DecodeStep(net, beams, first=False)

    def start(self, src):
        """``src [B, S]`` -> level-0 ``logp [B, V]`` (NumPy) and the context the next steps read."""
        src_t = Tensor(src)
        # tuples of tensors enter a graph as constants unless marked mutable: that would recompile every call
        cross = mutable(self.memory(src_t))                   # per user, shared by its W beams
        logp, cache = self.first(Tensor(np.full((len(src), 1), BOS, np.int32)), src_t, cross)
        return logp.asnumpy(), [src_t, cross, cache]

    def advance(self, t, tok, ctx, parent):
        """Level ``t >= 1``: ``tok [R, 1]`` the level ``t - 1`` tokens, ``parent [R]`` the cache row each extends
        (at ``t = 1`` the cache has one row per user)."""
        src_t, cross, cache = ctx
        logp, ctx[2] = self.step(Tensor(tok), src_t, cross, mutable(cache), Tensor(parent))
        return logp.asnumpy()


class CausalDecoder:
    """The beam search's network side for the causal generator (:mod:`.causal`): one pass over ``BOS`` + the
    history gives level 0 and the history's keys/values, then one token per hypothesis per level."""

    def __init__(self, net, beams):
        from .causal import CausalPrefix, CausalStep
        self.beams = beams
        self.prefix = CausalPrefix(net)
        self.first = CausalStep(net, beams, first=True)
        self.step = CausalStep(net, beams, first=False)

    def start(self, src):
        """``src [B, 2, S]``: tokens and item ids (:meth:`~.samples.WindowBuilder.evaluation`)."""
        tokens, ids = np.ascontiguousarray(src[:, 0]), np.ascontiguousarray(src[:, 1])
        last = (tokens != 0).sum(1).astype(np.int32) - 1          # BOS + h * L tokens: the last one's index
        out = self.prefix(Tensor(tokens), Tensor(ids), Tensor(last))
        item = np.repeat(last // (self.prefix.net.length), self.beams).astype(np.int32)    # history length h
        return out[0].asnumpy(), [mutable(tuple(out[1:])), Tensor(item), None]

    def advance(self, t, tok, ctx, parent):
        hist, item, cache = ctx
        if cache is None:
            logp, ctx[2] = self.first(Tensor(tok), item, hist)
        else:
            logp, ctx[2] = self.step(Tensor(tok), item, hist, mutable(cache), Tensor(parent))
        return logp.asnumpy()
