"""Config files to a :class:`~.sections.Config`: an experiment file merged over the ``base.yaml`` beside it.

An experiment may start from another with a top-level ``extends: <file>.yaml`` (same folder): that file is
resolved first (its own ``extends`` too) and this one is merged over it; ``--set key=value`` overrides come last.
A run's saved ``config.yaml`` is read back with :func:`load_saved`.
"""
import os

import yaml

from ..errors import CostError, StaleStage
from ..io import dump_config
from .schema import BASE_NAME, merge, read_yaml
from .sections import Config


def parse_set(items):
    """Turn ``["a.b=3", "c=[1,2]"]`` into a nested dict; values are parsed as YAML."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise CostError(f"--set expects key=value, got '{item}'")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def base_path(config_path):
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), BASE_NAME)


def load_config(path, overrides=None):
    """Resolve ``path`` over the ``base.yaml`` beside it, then apply ``--set`` overrides; a validated Config."""
    base = read_yaml(base_path(path))
    cfg = base
    if os.path.abspath(path) != os.path.abspath(base_path(path)):
        cfg = _merge_chain(base, path, [])
    return Config.build(merge(cfg, parse_set(overrides), "--set"))


def _merge_chain(base, path, seen):
    """``path`` merged over the file its top-level ``extends:`` names (same folder), down to ``base``."""
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return merge(base, data, path)
    if not isinstance(parent, str):
        raise CostError(f"'extends' in {path} must be a config file name, e.g. amazon-office-cpu.yaml")
    parent_path = os.path.join(os.path.dirname(os.path.abspath(path)), parent)
    if os.path.abspath(parent_path) in seen + [os.path.abspath(path)]:
        raise CostError(f"'extends' in {path} makes a cycle through {parent}")
    under = _merge_chain(base, parent_path, seen + [os.path.abspath(path)])
    return merge(under, data, path)


def load_saved(path, stage="train"):
    """A resolved config saved beside a run's outputs (``stage``'s folder), checked against today's schema.

    Keys added to the schema since the run take their defaults. A config this version cannot take (a key it no
    longer knows, a value it refuses) is a :class:`~cost_ms.errors.StaleStage`: the hint names the command that
    remakes the run."""
    saved = read_yaml(path)
    try:
        return Config.from_dict(saved, "this file")
    except CostError as e:
        raise StaleStage(f"{path} was written by another version of cost-ms ({e})", stage) from None


def dump(cfg):
    """The YAML every stage saves beside its output (keys in base.yaml order)."""
    return dump_config(cfg.to_dict())
