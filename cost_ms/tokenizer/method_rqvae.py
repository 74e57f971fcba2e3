"""``rqvae``: MLP encoder, residual quantizer, MLP decoder, trained with ``tokenizer.loss`` (CoST eq. 1, 5 or
both); the RQ-VAE of TIGER with CoST's contrastive loss."""
from ..errors import CostError
from .method import TokenizerMethod, centred, register

LOSSES = ("co", "re", "re+co")


class RQVAEMethod(TokenizerMethod):
    name = "rqvae"

    def check(self, tc):
        if tc.loss not in LOSSES:
            raise CostError(f"unknown tokenizer.loss '{tc.loss}'; choose one of: {', '.join(LOSSES)} "
                            f"(random hashing is tokenizer.method=random)")

    def tag(self, tc, model_tag):
        return f"{model_tag}-rqvae-{tc.loss}"

    def report_name(self, tc):
        return tc.loss

    def train(self, tc, emb, folder, seed, jit=True, progress=True, keep=3, resolved=None, log_every=50,
              views=None):
        from .trainer import encode_items, train_rqvae
        emb = centred(tc, emb)
        net, history = train_rqvae(tc, emb, folder, seed, jit=jit, progress=progress, keep=keep, resolved=resolved,
                                   log_every=log_every)
        return encode_items(net, emb), history, {}


register(RQVAEMethod())
