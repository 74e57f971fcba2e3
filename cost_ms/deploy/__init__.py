"""Deploying a trained generator: a MindIR export, its loader, and an HTTP service.

* :mod:`.export` (``python -m cost_ms export RUN_DIR --out DIR``): every graph the beam search calls, one MindIR
  per graph, level, batch size and input width (flat tensor inputs), beside the trie, the code-to-item table and
  the item metadata as plain files, and ``manifest.json`` (:mod:`.manifest`). Uses the training code.
* :mod:`.graphs`: an export back as a beam search over ``nn.GraphCell`` graphs; imports NumPy, MindSpore and the
  NumPy parts of :mod:`cost_ms.generator` only, never the training code or a config.
* :mod:`.batching` and :mod:`.serve` (``python -m cost_ms serve``): one inference thread that gathers concurrent
  requests into one beam-search call, behind FastAPI + uvicorn.

An export still needs Python, NumPy and MindSpore: the beam search (trie, history exclusion) runs in NumPy around
the graphs.
"""
