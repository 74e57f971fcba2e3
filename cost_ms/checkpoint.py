"""Resumable training state: every optimizer-held parameter (weights, moments, step) plus a JSON state.

Layout of a ``ckpt/`` folder::

    step-00000120.ckpt    parameters at global step 120 (written first, atomically)
    step-00000120.json    epoch, step within the epoch, history, ... and the config hash
                          (written second, atomically: a .json exists only beside a whole .ckpt)
    config.yaml           the resolved config of the run that wrote them

The newest ``.json`` wins; the ``keep`` newest pairs are kept. A checkpoint made with a
different config is refused instead of silently continued. A process killed at any point
leaves either the previous newest pair or the new one, never a half-written file that is read.
"""
import glob
import os
import re

import mindspore as ms

from .errors import CostError
from .config import dump
from .io import atomic_path, config_hash, read_json, write_json, write_text

_NAME = re.compile(r"step-(\d{8})\.json$")


def _pairs(folder):
    """``[(global_step, json_path, ckpt_path)]`` oldest first, only complete pairs."""
    out = []
    for path in glob.glob(os.path.join(folder, "step-*.json")):
        m = _NAME.search(path)
        ckpt = path[:-5] + ".ckpt"
        if m and os.path.isfile(ckpt):
            out.append((int(m.group(1)), path, ckpt))
    return sorted(out)


class CheckpointManager:
    """Save / restore ``cells`` (the optimizer holds the network's parameters too) in ``folder``."""

    def __init__(self, folder, cells, cfg_section, keep=3, writer=True, resolved=None):
        self.folder, self.cells, self.keep, self.writer = folder, cells, max(1, keep), writer
        self.hash = config_hash(cfg_section)
        self.resolved = resolved     # full config, saved beside the checkpoints on the first save

    def save(self, global_step, state):
        if not self.writer:          # data parallel: only rank 0 writes
            return
        os.makedirs(self.folder, exist_ok=True)
        if self.resolved is not None:
            write_text(os.path.join(self.folder, "config.yaml"), dump(self.resolved))
            self.resolved = None
        params = {}
        for cell in self.cells:
            params.update(cell.parameters_dict())
        base = os.path.join(self.folder, f"step-{global_step:08d}")
        with atomic_path(base + ".ckpt", suffix=".tmp.ckpt") as tmp:
            ms.save_checkpoint([{"name": k, "data": v} for k, v in params.items()], tmp)
        write_json(base + ".json", {**state, "global_step": global_step, "config_hash": self.hash})
        for _, js, ck in _pairs(self.folder)[:-self.keep]:
            os.remove(js)            # the .json first: a lone .ckpt is ignored
            os.remove(ck)

    def load(self):
        """Restore the newest checkpoint into the cells; return its state, or None if there is none."""
        if self.writer:          # temp files of a killed writer: never read, now removed
            for tmp in glob.glob(os.path.join(self.folder, ".step-*.tmp*")):
                os.remove(tmp)
        pairs = _pairs(self.folder)
        if not pairs:
            return None
        _, js, ck = pairs[-1]
        state = read_json(js, "checkpoint state")
        if state.get("config_hash") != self.hash:
            raise CostError(f"checkpoint in {self.folder} was made with a different config; "
                            f"pass --fresh to start over or choose another --out")
        params = ms.load_checkpoint(ck)
        for cell in self.cells:
            ms.load_param_into_net(cell, params, strict_load=False)
        return state
