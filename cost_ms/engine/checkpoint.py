"""Resumable training state: every optimizer-held parameter (weights, moments, step) plus a JSON state.

Layout of a ``ckpt/`` folder::

    step-00000120.ckpt    parameters at global step 120 (written first, atomically): the network's
                          as ``net.<name in the network>``, the optimizer's own (moments, step) as
                          ``opt.<name>``; loading is strict (see :mod:`.weights`)
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

from ..errors import CheckpointMismatch
from ..io import config_hash, dump_config, read_json, write_json, write_text
from .weights import load_into, read_checkpoint, save_params, state_dict

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


def optimizer_state(opt, net):
    """The optimizer's own parameters (moments, step, lr), without the network's it updates."""
    if opt is None:
        return {}
    ours = {id(p) for p in net.get_parameters()}
    return {k: p for k, p in opt.parameters_and_names() if id(p) not in ours}


class CheckpointManager:
    """Save / restore ``net`` and its optimizer ``opt`` in ``folder``.

    ``resume_key``: everything a resumed run must share with the one that saved (config section,
    data fingerprints, worker count); a checkpoint of another key is refused.
    """

    def __init__(self, folder, net, opt, resume_key, keep=3, writer=True, resolved=None):
        self.folder, self.net, self.opt, self.keep, self.writer = folder, net, opt, max(1, keep), writer
        self.hash = config_hash(resume_key)
        self.resolved = resolved     # full config, saved beside the checkpoints on the first save

    def save(self, global_step, state):
        if not self.writer:          # data parallel: only rank 0 writes
            return
        os.makedirs(self.folder, exist_ok=True)
        if self.resolved is not None:
            write_text(os.path.join(self.folder, "config.yaml"), dump_config(self.resolved))
            self.resolved = None
        base = os.path.join(self.folder, f"step-{global_step:08d}")
        params = {"net." + k: p for k, p in state_dict(self.net).items()}
        params.update({"opt." + k: p for k, p in optimizer_state(self.opt, self.net).items()})
        save_params(params, base + ".ckpt")
        write_json(base + ".json", {**state, "global_step": global_step, "config_hash": self.hash})
        for _, js, ck in _pairs(self.folder)[:-self.keep]:
            os.remove(js)            # the .json first: a lone .ckpt is ignored
            os.remove(ck)

    def has_checkpoint(self):
        return bool(_pairs(self.folder))

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
            raise CheckpointMismatch(f"checkpoint in {self.folder} was made with a different config")
        params = read_checkpoint(ck)
        load_into(self.net, params, ck, prefix="net.")
        if self.opt is not None:
            load_into(optimizer_state(self.opt, self.net), params, ck, prefix="opt.", owner=self.opt)
        return state
