"""Loaders on the real files in ../shared/data, and on small files in each raw format."""
import gzip
import json
import os

import pytest

from cost_ms.config import load_config
from cost_ms.data import create_dataset, load, save
from cost_ms.data.mind import parse_behaviors, parse_news
from cost_ms.data.text import render
from cost_ms.errors import CostError
from tests.conftest import ROOT, shared


def dataset_cfg(name, **kw):
    return load_config(os.path.join(ROOT, "configs", f"{name}.yaml")).dataset.replace(**kw)


def test_template_drops_empty_fields():
    t = "Item category: {category}. Title: {title}. Description: {description}."
    assert render(t, {"category": "Pens", "title": "Blue  pen", "description": ""}) == \
        "Item category: Pens. Title: Blue pen."
    assert render(t, {"category": "", "title": "X", "description": None}) == "Title: X."
    assert render("Item category: {a}, {b}. Title: {t}.", {"a": "news", "b": "", "t": "T"}) == \
        "Item category: news. Title: T."


@pytest.mark.parametrize("name, users, items, inter", [
    ("amazon-office", 4905, 2420, 53258),
    ("amazon-beauty", 22363, 12101, 198502),
    ("ml-latest-small", 610, 9724, 100836),
])
def test_real_datasets_load(name, users, items, inter, tmp_path):
    shared(name)
    prep = create_dataset(dataset_cfg(name))
    assert (prep.meta["num_users"], prep.meta["num_items"], prep.meta["num_interactions"]) == (users, items, inter)
    train, valid, test = prep.split()
    u = next(iter(prep.sequences))
    assert train[u] + [valid[u], test[u]] == prep.sequences[u]
    assert prep.items["text"].str.startswith(("Item category", "Title", "Brand")).all() or name != "amazon-office"
    save(prep, str(tmp_path / "data"))
    again = load(str(tmp_path / "data"))
    assert again.sequences == prep.sequences and len(again.items) == items


def test_office_text_has_all_fields():
    shared("amazon-office")
    prep = create_dataset(dataset_cfg("amazon-office"))
    text = prep.items["text"].iloc[1]
    assert text.startswith("Item category: Office Electronics") and "Title: Northwestern Bell" in text
    assert "Description: VISUAL RING" in text


def _write_lcrec(folder, prefix, inter, items, attrs=None):
    folder.mkdir(exist_ok=True)
    (folder / f"{prefix}.inter.json").write_text(json.dumps(inter))
    (folder / f"{prefix}.item.json").write_text(json.dumps(items))
    if attrs is not None:
        (folder / f"{prefix}.item2attributes.json").write_text(json.dumps(attrs))
    return folder


def lcrec_cfg(path, prefix, **kw):
    """The dataset section of configs/amazon-office.yaml switched to the generic lcrec-json loader."""
    return dataset_cfg("amazon-office", **kw).replace(name="lcrec-json", path=path, prefix=prefix)


TOY_INTER = {"1": [12, 10, 11], "0": [10, 13, 14, 12], "2": [11, 10], "3": [14, 13, 11]}
TOY_ITEMS = {"10": {"title": "Pen", "brand": "Bic"}, "11": {"title": "Ink", "brand": ""},
             "12": {"title": "Pad", "brand": "Rhodia"}, "13": {"title": "Clip", "brand": ""},
             "14": {"title": "Tape", "brand": "3M"}}


def test_lcrec_json_toy_folder(tmp_path):
    folder = _write_lcrec(tmp_path / "toy", "Toy", TOY_INTER, TOY_ITEMS, attrs={"10": [1], "11": [2]})
    _write_lcrec(folder, "Other", {"0": [1, 2, 3]}, {str(i): {"title": "x"} for i in (1, 2, 3)})
    prep = create_dataset(lcrec_cfg(str(folder), "Toy", text_template="Title: {title}. Brand: {brand}."))
    # user 2 has 2 items (< min_seq_len 3) and is dropped; dense ids in order of first appearance, users sorted
    assert prep.meta["dataset"] == "lcrec-json" and prep.meta["counts"]["users_dropped_short"] == 1
    assert prep.sequences == {"0": [0, 1, 2, 3], "1": [3, 0, 4], "3": [2, 1, 4]}
    assert list(prep.items["item_id"]) == ["10", "13", "14", "12", "11"]
    assert list(prep.items["text"]) == ["Title: Pen. Brand: Bic.", "Title: Clip.", "Title: Tape. Brand: 3M.",
                                        "Title: Pad. Brand: Rhodia.", "Title: Ink."]
    assert (prep.meta["num_users"], prep.meta["num_items"], prep.meta["num_interactions"]) == (3, 5, 10)
    assert set(prep.meta["source"]) == {"Toy.inter.json", "Toy.item.json", "Toy.item2attributes.json"}
    train, valid, test = prep.split()
    assert train == {"0": [0, 1], "1": [3], "3": [2]}
    assert valid == {"0": 2, "1": 0, "3": 1} and test == {"0": 3, "1": 4, "3": 4}
    save(prep, str(tmp_path / "data"))
    again = load(str(tmp_path / "data"))
    assert again.sequences == prep.sequences and list(again.items["item_id"]) == list(prep.items["item_id"])
    # without item2attributes.json nothing else is recorded
    os.remove(folder / "Toy.item2attributes.json")
    prep = create_dataset(lcrec_cfg(str(folder), "Toy", text_template="Title: {title}."))
    assert set(prep.meta["source"]) == {"Toy.inter.json", "Toy.item.json"}


@pytest.mark.parametrize("path, prefix, message", [
    (None, "Toy", "dataset.path must point at a folder with Toy.inter.json and Toy.item.json"),
    (None, None, "dataset.path must point at a folder with <prefix>.inter.json and <prefix>.item.json"),
    ("nowhere", "Toy", "lcrec-json data folder not found: "),
    ("toy", None, "dataset.prefix is not set: it names the files <prefix>.inter.json and "),
    ("toy", "Toy.inter.json", "no Toy.inter.json.inter.json in "),
    ("toy", "Ty", "no Ty.inter.json in "),
    ("toy", "Other", "has Other.inter.json but no Other.item.json"),
    ("toy", 7, "dataset.prefix must be a string"),
    ("toy", "../toy/Toy", "must be a file-name prefix such as 'Office', not a path"),
    ("empty", "Toy", "this folder has no *.inter.json file"),
])
def test_lcrec_json_bad_folder_or_prefix(tmp_path, path, prefix, message):
    folder = _write_lcrec(tmp_path / "toy", "Toy", TOY_INTER, TOY_ITEMS)
    (folder / "Other.inter.json").write_text("{}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CostError) as e:
        create_dataset(lcrec_cfg(path and str(tmp_path / path), prefix))
    assert message in str(e.value) and "\n" not in str(e.value)
    if path == "toy" and (prefix is None or "inter.json in" in message):   # names the prefixes the folder has
        assert str(e.value).endswith("; this folder has: Other, Toy")


def test_lcrec_json_on_shared_office_matches_the_preset():
    folder = shared("amazon-office")
    preset = create_dataset(dataset_cfg("amazon-office"))
    generic = create_dataset(lcrec_cfg(folder, "Office"))
    counts = ("num_users", "num_items", "num_interactions")
    assert tuple(generic.meta[k] for k in counts) == tuple(preset.meta[k] for k in counts) == (4905, 2420, 53258)
    assert generic.sequences == preset.sequences
    assert generic.items.equals(preset.items)
    assert {k: v for k, v in generic.meta.items() if k != "dataset"} == \
        {k: v for k, v in preset.meta.items() if k != "dataset"}


def test_movielens_ties_keep_file_order(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,10,4,100\n1,30,4,50\n1,20,4,100\n1,40,4,200\n")
    (tmp_path / "movies.csv").write_text(
        "movieId,title,genres\n10,A (1990),Drama\n20,B (1991),Comedy|Drama\n30,C,(no genres listed)\n40,D,Horror\n")
    prep = create_dataset(dataset_cfg("ml-latest-small", path=str(tmp_path)))
    ids = prep.items.set_index("index")["item_id"]
    assert [ids[i] for i in prep.sequences["1"]] == ["30", "10", "20", "40"]
    assert prep.items.set_index("item_id").loc["20", "text"] == "Title: B (1991). Genres: Comedy, Drama."


def _write_ml100k(folder, rows):
    folder.mkdir()
    (folder / "ml-100k.inter").write_text("user_id:token\titem_id:token\trating:float\ttimestamp:float\n" +
                                          "".join(f"{u}\t{i}\t3\t{t}\n" for u, i, t in rows))
    (folder / "ml-100k.item").write_text("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n" +
                                         "".join(f"{i}\tMovie {i}\t1995\tAction Comedy\n" for i in range(1, 6)))


def test_ml100k_atomic_files(tmp_path):
    _write_ml100k(tmp_path / "ml", [(1, 1, 5), (1, 2, 5), (1, 3, 1), (2, 4, 1), (2, 5, 2), (2, 1, 3), (3, 1, 1)])
    prep = create_dataset(dataset_cfg("ml-100k", path=str(tmp_path / "ml")))
    assert prep.meta["num_users"] == 2 and prep.meta["counts"]["users_dropped_short"] == 1
    ids = prep.items.set_index("index")["item_id"]
    assert [ids[i] for i in prep.sequences["1"]] == ["3", "1", "2"]
    assert prep.items["text"].iloc[0] == "Title: Movie 3. Year: 1995. Genres: Action, Comedy."


def test_mind_parser_on_real_fragment():
    folder = shared("mind-fragment")
    news = parse_news(os.path.join(folder, "news.tsv"))
    assert len(news) == 2000
    rec = news["N34700"]
    assert rec["category"] == "news" and rec["title"].startswith("New Florida Majority")
    seqs = parse_behaviors(os.path.join(folder, "behaviors.tsv"))
    assert len(seqs) == 4637
    assert all(len(s) == len(set(s)) for s in seqs.values())
    text = render(dataset_cfg("mind").text_template, rec)
    assert text.startswith("Item category: news, newspolitics. Title: New Florida Majority")


def test_mind_filters(tmp_path):
    news = "".join(f"N{i}\tsports\tsoccer\tTitle {i}\tAbstract {i}\turl\t[]\t[]\n" for i in range(6))
    (tmp_path / "news.tsv").write_text(news)
    rows = []
    for u in range(20):   # N0..N2 clicked by all 20 users, N3 by 3 users, N4 and N5 by one
        hist = "N0 N1" if u else "N0 N1 N4"
        imps = "N2-1 N5-0" + (" N3-1" if u < 3 else "") + (" N5-1" if u == 1 else "")
        rows.append(f"{u}\tU{u}\t11/1{u % 5}/2019 1:0{u % 10}:00 PM\t{hist}\t{imps}\n")
    (tmp_path / "behaviors.tsv").write_text("".join(rows))
    prep = create_dataset(dataset_cfg("mind", path=str(tmp_path), min_item_users=15, max_seq_len=70))
    assert prep.meta["counts"]["items_dropped_min_item_users"] == 3
    assert set(prep.items["item_id"]) == {"N0", "N1", "N2"}
    assert prep.meta["num_users"] == 20 and all(len(s) == 3 for s in prep.sequences.values())
    # the history cap applies before the short-user filter: capped at 2, nobody is left
    with pytest.raises(CostError, match="no user has >= 3 items"):
        create_dataset(dataset_cfg("mind", path=str(tmp_path), min_item_users=15, max_seq_len=2))


def test_amazon_raw_files(tmp_path):
    reviews = [{"reviewerID": f"U{u}", "asin": f"A{(u + k) % 4}", "unixReviewTime": 100 + k}
               for u in range(3) for k in range(5)] + [{"reviewerID": "U9", "asin": "A0", "unixReviewTime": 1}]
    with gzip.open(tmp_path / "reviews_Office_Products_5.json.gz", "wt") as f:
        f.write("\n".join(json.dumps(r) for r in reviews))
    meta = [repr({"asin": f"A{i}", "title": f"Pen {i}", "categories": [["Office", "Pens"]], "brand": "B"})
            for i in range(4)]
    with gzip.open(tmp_path / "meta_Office_Products.json.gz", "wt") as f:
        f.write("\n".join(meta))
    prep = create_dataset(dataset_cfg("amazon", path=str(tmp_path)))
    assert prep.meta["num_users"] == 3 and prep.meta["counts"]["users_dropped_min_user_inter"] == 1
    assert prep.items["text"].iloc[0] == "Item category: Office, Pens. Brand: B. Title: Pen 0."
    capped = create_dataset(dataset_cfg("amazon", path=str(tmp_path), max_items=2, min_seq_len=3))
    assert capped.num_items == 2


@pytest.mark.parametrize("files, message", [
    ({}, "data folder not found"),
    ({"ratings.csv": "userId,movieId,rating,timestamp\n"}, "missing file movies.csv"),
])
def test_missing_folder_or_file(tmp_path, files, message):
    folder = tmp_path / "ml"
    if files:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
    with pytest.raises(CostError, match=message):
        create_dataset(dataset_cfg("ml-latest-small", path=str(folder)))


def test_unknown_item_ids_are_an_error(tmp_path):
    (tmp_path / "Office.inter.json").write_text(json.dumps({"0": [0, 1, 7]}))
    (tmp_path / "Office.item.json").write_text(json.dumps({"0": {"title": "a"}, "1": {"title": "b"}}))
    with pytest.raises(CostError, match="1 item id\\(s\\) in the sequences have no item record"):
        create_dataset(dataset_cfg("amazon-office", path=str(tmp_path), text_template="Title: {title}."))


def test_unfinished_prepare_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(CostError, match="prepare output missing or unfinished") as e:
        load(str(tmp_path / "data"))
    assert e.value.hint() == "run `python -m cost_ms prepare CONFIG` first"      # the CLI appends it
