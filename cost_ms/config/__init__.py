"""Typed configuration: one frozen dataclass per section of ``configs/base.yaml``, built from YAML.

::

    cfg = load_config("configs/ml-100k.yaml", ["generator.beam_size=50"])     # --set overrides
    cfg.generator.beam_size                       # 50: code reads attributes
    create_model(cfg.generator, ...)              # a component takes its own section
    cfg = cfg.replace(generator={"max_train_steps": 3}, run={"out": path})  # a new Config, checked again
    tc = cfg.tokenizer.replace(levels=2)          # the same for one section

``base.yaml`` is the schema (:mod:`.schema`): every key a config may set appears there with its default and a
comment. A key not in it, in a file, in ``--set`` or in ``replace``, is an error that names the key; so is a
value whose type differs from the default's (int for float is fine, ``null`` defaults take anything). Files are
merged by :mod:`.loading` (``extends:`` chains, ``--set``), then built into :class:`Config` (:mod:`.sections`):
each section checks its ranges and relations next to its fields, the Config those across sections. Every
refusal is one CostError line. A Config is frozen: :meth:`Config.replace` makes a new one.

``Config.to_dict()`` is the nested plain dict in base.yaml's key order that ``config_hash``, the resume keys and
the ``config.yaml`` saved beside every output are made from: the same dict as before configs were typed, so
earlier run folders still resume and pass their checks.
"""
from .loading import base_path, dump, load_config, load_saved, parse_set
from .schema import merge, project_base, schema
from .sections import (SECTIONS, BaselineConfig, Config, DatasetConfig, EmbedConfig, EvalConfig, GeneratorConfig,
                       RunConfig, TokenizerConfig, ViewsConfig)

__all__ = ["Config", "SECTIONS", "BaselineConfig", "DatasetConfig", "EmbedConfig", "EvalConfig", "GeneratorConfig",
           "RunConfig", "TokenizerConfig", "ViewsConfig", "base_path", "dump", "load_config", "load_saved", "merge",
           "parse_set", "project_base", "schema"]
