"""What a tokenizer method is: one object, registered once, that owns everything about the method.

A :class:`TokenizerMethod` checks its own config keys (at config load), names its output folder, names itself in
reports, lists the item views it trains on and trains. Nothing else in the package branches on
``tokenizer.method``: config validation, the stage folders, the CLI and ``run_tokenize`` ask the method.

Adding a method is one new file (a subclass, registered with :func:`register`), its keys in
``configs/base.yaml`` and its module in the import list of ``tokenizer/__init__.py`` (DEVELOPERS.md). Method
modules import their trainers inside :meth:`~TokenizerMethod.train`, so loading a config never imports MindSpore.
"""

from ..registry import Registry

TOKENIZERS = Registry("tokenizer method")


class TokenizerMethod:
    """Base class; ``name`` is the value of ``tokenizer.method`` that selects it."""

    name = ""

    def check(self, tc):
        """Raise :class:`~cost_ms.errors.CostError` when ``tc`` (the ``tokenizer`` section, a
        :class:`~cost_ms.config.TokenizerConfig` being built: its other checks have passed) is bad for this method."""

    def tag(self, tc, model_tag):
        """The part after ``tokenize-`` of the output folder: what the semantic IDs depend on."""
        return f"{model_tag}-{self.name}"

    def report_name(self, tc):
        """What tables and ``metrics.json`` call this tokenizer."""
        return self.name

    def views(self, tc):
        """Item views (besides nothing) the method trains on: names for the views stage, in order."""
        return []

    def train(self, tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50,
              views=None):
        """Train (or resume) in ``folder``; ``emb [N, D] float32`` item embeddings, ``views`` the matrices of
        :meth:`views`. Returns ``(codes [N, M] int, history, extra report fields)``."""
        raise NotImplementedError


def register(method):
    """Register a :class:`TokenizerMethod` instance under its ``name``; returns it."""
    return TOKENIZERS.register(method.name)(method)


def get_method(tc):
    """The registered method of ``tc.method`` (a one-line error naming the choices when unknown)."""
    return TOKENIZERS.get(tc.method)


def centred(tc, m):
    """``m`` minus its mean row when ``tokenizer.center_inputs``: a zero-mean input spreads level-1 codes; the
    targets of eq. 2/4 are centred too."""
    return m - m.mean(0, keepdims=True) if tc.center_inputs else m
