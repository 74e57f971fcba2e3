"""Running the configured tokenizer method and writing its outputs (the ``tokenize`` command)."""
import logging
import os

from ..io import config_hash, dump_config, write_text
from ..parallel import world
from .method import get_method
from .semantic_ids import write_outputs

log = logging.getLogger("cost_ms.tokenizer")


def tokenizer_name(tc):
    """What reports call this tokenizer: the loss for rqvae (``co``), SimCIT with its views (``simcit-text+cf``),
    else the method (``random``)."""
    return get_method(tc).report_name(tc)


def run_tokenize(cfg, prep, emb, emb_meta, folder, jit=True, progress=True, views=None):
    """Train/resume the configured tokenizer in ``folder`` and write semantic IDs and the report.

    ``views``: the view matrices of ``tokenizer.views`` (SimCIT), already checked.
    """
    tc = cfg.tokenizer
    os.makedirs(folder, exist_ok=True)
    if tc.codebook_size ** tc.levels < prep.num_items:
        log.warning("K^M = %d^%d is smaller than the item count (%d): many items will share tuples "
                    "and need the dedup token", tc.codebook_size, tc.levels, prep.num_items)
    codes, history, extra = get_method(tc).train(tc, emb, folder, cfg.run.seed, jit=jit, progress=progress,
                                                 keep=cfg.run.keep_checkpoints, resolved=cfg.to_dict(),
                                                 log_every=cfg.run.log_every_steps, views=views)
    if not world().is_main:  # data parallel: rank 0 writes the outputs
        return None, None
    # written only now: a command refused on the way (e.g. a checkpoint of another config) changes nothing
    write_text(os.path.join(folder, "config.yaml"), dump_config(cfg.to_dict()))
    sid, report = write_outputs(folder, prep.items, codes, emb, tc.codebook_size, tc.neighbours,
                                dataset=prep.name, tokenizer=tokenizer_name(tc), method=tc.method,
                                embedding=emb_meta.get("model"), embedding_dim=int(emb.shape[1]),
                                config_hash=config_hash(tc.to_dict()), epochs=len(history),
                                final=history[-1] if history else None, extra=extra)
    return sid, report
