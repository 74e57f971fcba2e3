"""Property-based tests (hypothesis) on the config loader and the raw-data parsers.

The contract under test: whatever the input, the outcome is a parsed value or a CostError
with a message, never another exception; and well-formed input is read back exactly.
"""
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cost_ms.config import Config, load_config, parse_set, schema
from cost_ms.data.amazon_raw import _records
from cost_ms.data.mind import parse_behaviors, parse_news
from cost_ms.data.text import render
from cost_ms.errors import CostError
from tests.conftest import ROOT

BASE = os.path.join(ROOT, "configs", "base.yaml")
SCHEMA = schema()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
identifiers = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)


# ------------------------------------------------------------------ config loader
@FAST
@given(section=st.sampled_from(sorted(SCHEMA)), key=identifiers, value=st.integers())
def test_unknown_keys_are_named(section, key, value):
    if key in SCHEMA[section]:
        return
    with pytest.raises(CostError, match=f"unknown config key '{section}.{key}'"):
        load_config(BASE, [f"{section}.{key}={value}"])


INT_KEYS = [f"{s}.{k}" for s in SCHEMA for k, v in SCHEMA[s].items() if type(v) is int]
FLOAT_KEYS = [f"{s}.{k}" for s in SCHEMA for k, v in SCHEMA[s].items() if type(v) is float]


@FAST
@given(key=st.sampled_from(INT_KEYS), value=st.one_of(
    st.text(string.ascii_letters, min_size=1, max_size=8).filter(lambda t: t.lower() not in
                                                                  {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "inf", "nan"}),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != int(f)),
    st.lists(st.integers(), max_size=3)))
def test_wrong_types_are_refused(key, value):
    with pytest.raises(CostError, match=f"config key '{key}' in --set must be int"):
        load_config(BASE, [f"{key}={value}"])


@FAST
@given(key=st.sampled_from(["tokenizer.epochs", "generator.epochs", "tokenizer.kmeans_iters", "run.seed"]),
       value=st.integers(1, 10 ** 9))
def test_int_overrides_round_trip(key, value):
    section, name = key.split(".")
    assert load_config(BASE, [f"{key}={value}"]).to_dict()[section][name] == value


@pytest.mark.parametrize("key", ["tokenizer.epochs", "generator.epochs", "tokenizer.kmeans_iters"])
def test_zero_epochs_or_iterations_are_refused(key):
    with pytest.raises(CostError, match=f"{key} must be a whole number >= 1, got 0"):
        load_config(BASE, [f"{key}=0"])


ALL_KEYS = [f"{s}.{k}" for s in SCHEMA for k in SCHEMA[s]]
ODD_VALUES = st.one_of(st.just([]), st.just(0), st.integers(-10 ** 12, 10 ** 12), st.just(None), st.booleans(),
                       st.floats(allow_nan=False), st.text(string.ascii_letters, max_size=8),
                       st.lists(st.integers(-5, 50), max_size=4), st.just({"a": 1}))


@settings(max_examples=400, deadline=None)
@given(key=st.sampled_from(ALL_KEYS), value=ODD_VALUES)
def test_every_key_gives_a_valid_config_or_one_error_line(key, value):
    """Any value for any key of base.yaml: the loader returns a config or raises a one-line CostError."""
    import json
    try:
        cfg = load_config(os.path.join(ROOT, "configs", "ml-100k.yaml"), [f"{key}={json.dumps(value)}"])
    except CostError as e:
        assert "\n" not in str(e)
        return
    assert isinstance(cfg, Config) and set(cfg.to_dict()) == set(SCHEMA)


@FAST
@given(key=st.sampled_from([k for k in FLOAT_KEYS if not k.endswith(("dropout", "min_lr_ratio"))]),   # in [0, 1]
       value=st.integers(1, 1000))   # > 0: ranges are test_config.py's
def test_ints_are_accepted_for_floats(key, value):
    section, name = key.split(".")
    got = load_config(BASE, [f"{key}={value}"]).to_dict()[section][name]
    assert isinstance(got, float) and got == value


@FAST
@given(st.lists(st.text(max_size=30), max_size=4))
def test_set_parser_never_crashes(items):
    try:
        parse_set(items)
    except CostError:
        pass


# ------------------------------------------------------------------ data parsers
lines = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x1c\x1d\x1e\x85\u2028\u2029\x0b\x0c"),
                max_size=60)


@FAST
@given(st.lists(lines, min_size=1, max_size=5))
def test_amazon_records_parse_or_refuse(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("amz") / "reviews.json"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    try:
        for n, rec in _records(str(path)):
            assert isinstance(rec, dict) and n >= 1
    except CostError as e:
        assert "\n" not in str(e)


@FAST
@given(st.lists(lines, min_size=1, max_size=5))
def test_mind_files_parse_or_refuse(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("mind")
    for name, parse in (("news.tsv", parse_news), ("behaviors.tsv", parse_behaviors)):
        (folder / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
        try:
            assert isinstance(parse(str(folder / name)), dict)
        except CostError as e:
            assert "\n" not in str(e)


@pytest.mark.parametrize("line", ["{[]: 1}", "{'a': {1, [2]}}", "(" * 300 + ")" * 300, "[1, 2]", "{1: -{}}"])
def test_amazon_records_found_by_search(tmp_path, line):
    """Literals that parse but cannot be built (unhashable keys), deep nesting, non-objects."""
    path = tmp_path / "meta.json"
    path.write_text(line + "\n")
    with pytest.raises(CostError, match="meta.json:1: record"):
        list(_records(str(path)))


news_ids = st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=5).map(lambda s: "N" + s)


@FAST
@given(st.lists(st.tuples(st.integers(0, 3), st.lists(news_ids, max_size=3), st.lists(st.tuples(news_ids, st.booleans()),
                                                                                    max_size=4)),
                min_size=1, max_size=6))
def test_mind_behaviors_read_back(tmp_path_factory, rows):
    """Well-formed rows: a user's sequence is the first history, then clicks in time order, no repeats."""
    path = tmp_path_factory.mktemp("mind") / "behaviors.tsv"
    text = []
    for n, (user, history, imps) in enumerate(rows):
        when = f"11/{10 + n}/2019 9:05:58 AM"               # rows are already in time order
        text.append(f"{n}\tU{user}\t{when}\t{' '.join(history)}\t{' '.join(f'{i}-{int(c)}' for i, c in imps)}")
    path.write_text("\n".join(text) + "\n")
    expected = {}
    for user, history, imps in rows:
        seq = expected.setdefault(f"U{user}", list(history))
        seq.extend(i for i, c in imps if c)
    assert parse_behaviors(str(path)) == {u: list(dict.fromkeys(s)) for u, s in expected.items()}


values = st.one_of(st.none(), st.just(float("nan")), st.text(string.ascii_letters + " ", max_size=10),
                   st.lists(st.text(string.ascii_letters, max_size=5), max_size=3))


@FAST
@given(title=values, category=values, description=values)
def test_template_keeps_every_value_and_drops_empty_sentences(title, category, description):
    from cost_ms.data.text import clean
    fields = {"title": title, "category": category, "description": description}
    out = render("Item category: {category}. Title: {title}. Description: {description}.", fields)
    for name, label in (("category", "Item category:"), ("title", "Title:"), ("description", "Description:")):
        value = clean(fields[name])
        if value:
            assert value in out and label in out
        else:
            assert label not in out


DATASET_KEYS = ["dataset.min_seq_len", "dataset.max_seq_len", "dataset.min_item_users", "dataset.min_user_inter",
                "dataset.max_items"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(DATASET_KEYS), value=st.one_of(st.integers(-3, 12), st.just(10 ** 12)))
def test_accepted_dataset_values_go_through_a_real_prepare(tmp_path_factory, key, value):
    """Values the loader accepts reach a real ``prepare`` of a small data set: a prepared data set or one
    CostError line (e.g. every user filtered out), never another exception."""
    from cost_ms.data import create_dataset
    from tests.test_data import TOY_INTER, TOY_ITEMS, _write_lcrec
    try:
        cfg = load_config(os.path.join(ROOT, "configs", "ml-100k.yaml"), [f"{key}={value}"])
    except CostError as e:
        assert "\n" not in str(e)
        return
    folder = _write_lcrec(tmp_path_factory.mktemp("toy") / "toy", "Toy", TOY_INTER, TOY_ITEMS)
    section = cfg.dataset.replace(name="lcrec-json", path=str(folder), prefix="Toy", text_template="Title: {title}.")
    try:
        prep = create_dataset(section)
    except CostError as e:
        assert "\n" not in str(e)
        return
    assert prep.num_items >= 1 and all(len(s) >= section.min_seq_len for s in prep.sequences.values())
