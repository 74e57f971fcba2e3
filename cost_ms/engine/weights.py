"""Network weights on disk under names that do not depend on how the network was wrapped.

MindSpore renames a cell's parameters when the cell becomes an attribute of another cell
(``Seq2SeqWithLoss(net)`` turns ``embed.embedding_table`` into ``net.embed.embedding_table``).
A checkpoint keyed by ``Parameter.name`` therefore only loads into a network wrapped the same
way, and ``load_param_into_net`` merely warns about what it could not load. Here the names
come from the cell tree (``cell.parameters_and_names()``, relative to the cell saved), and a
load refuses, with one line, anything missing, left over or of another shape.
"""
import mindspore as ms
import numpy as np

from ..errors import CostError
from ..io import atomic_path


def state_dict(cell):
    """``{name relative to cell: Parameter}``: the same names whatever wraps ``cell``."""
    return dict(cell.parameters_and_names())


def save_weights(cell, path):
    """Write ``cell``'s parameters atomically to ``path``, under names relative to ``cell``."""
    save_params(state_dict(cell), path)


def save_params(params, path):
    """Write ``{name: Parameter}`` atomically to ``path``."""
    with atomic_path(path, suffix=".tmp.ckpt") as tmp:
        ms.save_checkpoint([{"name": k, "data": v} for k, v in params.items()], tmp)


def read_checkpoint(path):
    try:
        return ms.load_checkpoint(path)
    except (RuntimeError, ValueError, OSError) as e:
        first = next((ln for ln in str(e).splitlines() if ln.strip()), "unreadable")
        raise CostError(f"cannot read checkpoint {path}: {first.strip()}") from None


def _names(names, limit=3):
    names = sorted(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_into(cell, params, source, prefix="", owner=None):
    """Load ``params`` (``{name: Parameter}``) into ``cell``, strictly.

    ``prefix`` selects the checkpoint entries of this cell (e.g. ``"net."`` inside a training
    checkpoint). Every parameter of the cell must be in the checkpoint with its shape, and every
    checkpoint entry under ``prefix`` must belong to the cell: otherwise nothing is loaded and a
    :class:`CostError` names the first few offenders. ``owner``: load through this cell instead
    (an optimizer whose own state ``cell`` lists), so MindSpore's loader sees the parameters
    where they live.
    """
    targets = {prefix + k: p for k, p in (cell.items() if isinstance(cell, dict) else state_dict(cell).items())}
    entries = {k: v for k, v in params.items() if k.startswith(prefix)}
    missing = [k for k in targets if k not in entries]
    unused = [k for k in entries if k not in targets]
    if missing or unused:
        parts = []
        if missing:
            parts.append(f"{len(missing)} parameter(s) of the network are not in it ({_names(missing)})")
        if unused:
            parts.append(f"{len(unused)} entr(ies) belong to no parameter ({_names(unused)})")
        raise CostError(f"checkpoint {source} does not match the network: " + "; ".join(parts))
    wrong = [f"{k} {tuple(entries[k].shape)} vs {tuple(p.shape)}" for k, p in targets.items()
             if tuple(entries[k].shape) != tuple(p.shape)]
    if wrong:
        raise CostError(f"checkpoint {source} has other shapes than the network: {_names(wrong, 2)}")
    # MindSpore's loader matches on the parameters' current names, whatever wraps them now
    by_current = {p.name: entries[k] for k, p in targets.items()}
    not_loaded, _ = ms.load_param_into_net(owner if owner is not None else cell, by_current, strict_load=True)
    not_loaded = set(not_loaded) & set(by_current)
    if not_loaded:   # cannot happen after the checks above; never continue on a partial load
        raise CostError(f"checkpoint {source}: {len(not_loaded)} parameter(s) not loaded ({_names(not_loaded)})")


def load_weights(cell, path):
    """Strictly load a file written by :func:`save_weights` into ``cell``."""
    load_into(cell, read_checkpoint(path), path)


def fingerprint(array, rows=1024):
    """Shape plus a hash of evenly spaced rows: which data a checkpoint was trained on."""
    import hashlib
    array = np.asarray(array)
    sample = np.ascontiguousarray(array[::max(1, len(array) // rows)])
    return f"{'x'.join(map(str, array.shape))}:{hashlib.sha1(sample.tobytes()).hexdigest()[:12]}"
