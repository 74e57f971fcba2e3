"""``simcit``: SimCIT (arXiv 2506.16683): one encoder per item view, attention fusion, a soft residual quantizer
aligned contrastively with every view, no decoder; hard RQ codes at inference."""
import numpy as np

from ..errors import CostError
from .method import TokenizerMethod, centred, register


def _scaled(m):
    # unit mean square per feature: views of any width and norm reach the encoders at one scale, large enough
    # that squared distances in the latent are not swamped by the Gumbel noise of the soft assignment
    rms = float(np.sqrt((m.astype(np.float64) ** 2).sum(1).mean() / m.shape[1]))
    return (m / rms).astype(np.float32) if rms > 0 else m


class SimCITMethod(TokenizerMethod):
    name = "simcit"

    def check(self, tc):
        if not tc.views or len(set(tc.views)) != len(tc.views):
            raise CostError(f"tokenizer.views must name one or more distinct views, got {tc.views!r}")

    def tag(self, tc, model_tag):
        return f"{model_tag}-simcit-" + "+".join(tc.views)

    def report_name(self, tc):
        return "simcit-" + "+".join(tc.views)

    def views(self, tc):
        return list(tc.views)

    def train(self, tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50,
              views=None):
        from .simcit_trainer import encode_simcit, train_simcit
        views = [_scaled(centred(tc, v)) for v in views]
        net, history, align = train_simcit(tc, views, folder, seed, jit=jit, progress=progress, keep=keep,
                                           resolved=resolved, log_every=log_every)
        codes, alpha = encode_simcit(net, views)
        report = {name: {"fusion_weight": float(alpha[:, i].mean()),
                         "align_loss": None if align is None else float(align[i])}
                  for i, name in enumerate(tc.views)}
        return codes, history, {"views": report}


register(SimCITMethod())
