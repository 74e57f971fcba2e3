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
    cfg = load_config(os.path.join(ROOT, "configs", f"{name}.yaml"))["dataset"]
    cfg.update(kw)
    return cfg


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
    text = render(dataset_cfg("mind")["text_template"], rec)
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
