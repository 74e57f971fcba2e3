"""Resumable training state: all optimizer-held parameters (weights and moments) plus a JSON state.

``ckpt/last.ckpt`` and ``ckpt/state.json`` are each written atomically; state.json is
written second and names the checkpoint's config hash, so a checkpoint from a different
config is refused instead of silently continued.
"""
import os

import mindspore as ms

from .errors import CostError
from .io import atomic_path, config_hash, read_json, write_json


def save_state(folder, cells, state, cfg_section):
    """``cells``: the optimizer (it holds the network's parameters too) and any extra cells."""
    os.makedirs(folder, exist_ok=True)
    params = {}
    for cell in cells:
        params.update(cell.parameters_dict())
    with atomic_path(os.path.join(folder, "last.ckpt"), suffix=".tmp.ckpt") as tmp:
        ms.save_checkpoint([{"name": k, "data": v} for k, v in params.items()], tmp)
    write_json(os.path.join(folder, "state.json"), {**state, "config_hash": config_hash(cfg_section)})


def load_state(folder, cells, cfg_section):
    """Restore parameters into ``cells``; return the saved state dict, or None if nothing to resume."""
    state_p = os.path.join(folder, "state.json")
    ckpt_p = os.path.join(folder, "last.ckpt")
    if not (os.path.isfile(state_p) and os.path.isfile(ckpt_p)):
        return None
    state = read_json(state_p, "checkpoint state")
    if state.get("config_hash") != config_hash(cfg_section):
        raise CostError(f"checkpoint in {folder} was made with a different config; "
                        f"pass --fresh to start over or choose another --out")
    params = ms.load_checkpoint(ckpt_p)
    for cell in cells:
        ms.load_param_into_net(cell, params, strict_load=False)
    return state
