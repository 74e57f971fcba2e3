"""An export folder back as a beam search over loaded MindIR graphs, without the training code.

:func:`load_export` checks ``manifest.json`` (:mod:`.manifest`), loads each graph with ``mindspore.load`` into an
``nn.GraphCell``, and rebuilds the beam search of :mod:`cost_ms.generator.beam_search` around a
:class:`GraphDecoder`: the same trie, history exclusion, length-sorted batches and width cropping as a run folder's
``recommend``. It imports NumPy, MindSpore and the NumPy modules of :mod:`cost_ms.generator` (vocab, samples,
beam search) with :mod:`cost_ms.architectures` (decoding-input width and cropping), never a config, the data
loaders or a network definition (``tests/test_deploy.py`` checks ``sys.modules`` in a new process).
"""
import json
import os
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from ..architectures import ARCHS
from ..generator.beam_search import BeamSearcher, PrefixIndex
from ..generator.vocab import Vocab
from .manifest import read_manifest


class Graph:
    """One exported graph: ``__call__(state)`` feeds it the arrays its inputs name, stores its outputs under their
    names in ``state`` and returns its first output, ``logp``, as NumPy. The MindIR is loaded on the first call, so a
    one-off request loads only the graphs of its batch size and width."""

    def __init__(self, path, inputs, outputs):
        self.path, self.inputs, self.outputs, self.cell = path, inputs, outputs, None

    def __call__(self, state):
        import mindspore as ms
        if self.cell is None:
            self.cell = ms.nn.GraphCell(ms.load(self.path))
        out = self.cell(*[v if isinstance(v, ms.Tensor) else ms.Tensor(v) for v in (state[n] for n in self.inputs)])
        state.update(zip(self.outputs[1:], out[1:]))
        return out[0].asnumpy()


class GraphDecoder:
    """The beam search's network side over loaded graphs: ``graphs[(batch, width)]`` lists the level 0..L-1 graphs of
    that input shape; :class:`~cost_ms.generator.beam_search.BeamSearcher` pads and crops every batch to one."""

    def __init__(self, graphs):
        self.graphs = graphs

    def start(self, src):
        """``src [B, S]`` or ``[B, 2, S]`` -> level-0 ``logp [B, V]`` and the context (the graphs and their state)."""
        levels = self.graphs[(len(src), src.shape[-1])]
        state = {"src": np.ascontiguousarray(src)}
        return levels[0](state), (levels, state)

    def advance(self, t, tok, ctx, parent):
        levels, state = ctx
        state["tok"], state["parent"] = tok, np.ascontiguousarray(parent, np.int32)
        return levels[t](state)


@dataclass
class Export:
    """What :meth:`cost_ms.generator.recommend.Recommender.from_export` serves."""
    manifest: dict
    dataset: str
    item_ids: list
    titles: list
    builder: object
    searcher: BeamSearcher
    buckets: list
    exclude_history: bool


def load_export(folder, device=None):
    """Check and load the export in ``folder`` (``device``: default CPU)."""
    from ..runtime import init_runtime
    man = read_manifest(folder)
    rt = man["runtime"]
    init_runtime(device or "CPU", "graph", None, rt["cpu_threads"], rt["cpu_host_blocking"])
    with open(os.path.join(folder, "items.json"), encoding="utf-8") as f:
        items = json.load(f)
    vocab = Vocab(man["vocab"]["level_sizes"], man["vocab"]["user_buckets"])
    index = PrefixIndex.from_arrays(np.load(os.path.join(folder, "trie.npz")))
    dec = man["decoding"]
    arch = ARCHS.get(man["arch"])
    # the generator keys the decoding inputs depend on, as the architecture's builder reads them
    gc = SimpleNamespace(max_history=dec["max_history"], window_stride=dec["window_stride"])
    builder = arch.builder(vocab.item_tokens(np.load(os.path.join(folder, "codes.npy"))), gc, vocab)
    graphs = {}
    for g in sorted(man["graphs"], key=lambda g: (g["batch"], g["width"], g["level"])):
        graphs.setdefault((g["batch"], g["width"]), []).append(
            Graph(os.path.join(folder, g["file"]), [i["name"] for i in g["inputs"]], [o["name"] for o in g["outputs"]]))
    searcher = BeamSearcher(None, vocab, index, man["beam_size"], dec["batch_sizes"], dec["widths"], arch=arch,
                            decoder=GraphDecoder(graphs))
    return Export(man, man["dataset"], items["item_id"], items["title"], builder, searcher, dec["buckets"],
                  man["protocol"]["exclude_history"])
