"""Generative retrieval: train, evaluate and recommend from a run folder.

Split by job: ``transformer.py`` (TIGER's model and loss cell), ``causal.py`` (the decoder-only generator),
``decoders.py`` (each architecture's cached decoding cells behind the beam search), ``beam_search.py`` (trie and
constrained beam search, NumPy only), ``inputs.py`` (vocab, tokens, samples, trie, splits: no network),
``evaluation.py`` (metrics), ``trainer.py`` (training on the engine), ``run.py`` (the train and evaluate stages),
``recommend.py`` (serving).

The stage functions below load on first use: a loaded export (:mod:`cost_ms.deploy`) imports the NumPy modules of
this package (vocab, samples, beam search) without the training code.
"""
import importlib

_RUN = ("GeneratorInputs", "Evaluator", "build_network", "format_table", "run_evaluate", "run_train",
        "run_config_hash", "check_trained", "STAGE")


def __getattr__(name):
    if name not in _RUN:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".run", __name__), name)
    globals()[name] = value          # later reads (and a test's monkeypatch) see a plain attribute
    return value


__all__ = list(_RUN)
