"""The schema (``configs/base.yaml``) and the merge that checks keys and value types against it.

Every key a config may set appears in ``base.yaml`` with its default. :func:`merge` refuses a key not there and
a value whose type differs from the default's (int for float is fine, ``null`` defaults take anything), each
with one :class:`~cost_ms.errors.CostError` line that names the dotted key and where it was set.
"""
import copy
import functools
import os

import yaml

from ..errors import CostError

BASE_NAME = "base.yaml"

# keys whose default is a value but that also take null (head_dim: null = d_model // num_heads)
NULLABLE = {"generator.head_dim"}


def read_yaml(path):
    """A YAML mapping from ``path``; a missing file, bad YAML or another top-level type is one CostError line."""
    if not os.path.isfile(path):
        raise CostError(f"config not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise CostError(f"config {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise CostError(f"config {path} must be a mapping at top level")
    return data


def project_base():
    """``configs/base.yaml`` of this checkout: the schema a saved config is validated against."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(root, "configs", BASE_NAME)


@functools.lru_cache(maxsize=1)
def _schema():
    return read_yaml(project_base())


def schema():
    """This checkout's ``base.yaml`` as a nested dict (a copy: callers may change it)."""
    return copy.deepcopy(_schema())


def _type_ok(default, value, dotted=""):
    if default is None:
        return True
    if value is None:
        return dotted in NULLABLE
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def merge(base, override, where, prefix="", types=None):
    """Deep-merge ``override`` into a copy of ``base``; reject unknown keys and wrong types.

    ``types``: the mapping whose keys and defaults' types rule (default ``base``); a resolved config passes the
    schema here, since its own values (a named ``run.out``, say) are no longer the defaults that say what a key
    takes."""
    types = base if types is None else types
    out = copy.deepcopy(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in types:
            raise CostError(f"unknown config key '{dotted}' in {where}; known keys here: {', '.join(sorted(types))}")
        default = types[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise CostError(f"config key '{dotted}' in {where} must be a mapping")
            out[key] = merge(base[key], value, where, dotted + ".", default)
        elif not _type_ok(default, value, dotted):
            raise CostError(f"config key '{dotted}' in {where} must be {type(default).__name__}, "
                            f"got {type(value).__name__} ({value!r})")
        else:
            out[key] = float(value) if isinstance(default, float) and value is not None else value
    return out
