"""MIND: official ``news.tsv`` and ``behaviors.tsv`` (tab-separated, no header).

A user's sequence is their click history followed by the news they clicked in their
impressions, in time order. The item filter (>= 15 users) and the cap on history length
(last 70) follow RecForest's preprocessing, which the CoST paper adopts; both are config.
"""
import datetime as dt

from ..errors import CostError
from .dataset import RawData
from .sources import require_files, source_info

NEWS_COLUMNS = ("news_id", "category", "subcategory", "title", "abstract", "url",
                "title_entities", "abstract_entities")
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"


def parse_news(path):
    items = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) != len(NEWS_COLUMNS):
                raise CostError(f"{path}:{n}: expected {len(NEWS_COLUMNS)} tab-separated columns, got {len(cols)}")
            rec = dict(zip(NEWS_COLUMNS, cols))
            if rec["news_id"] in items:
                raise CostError(f"{path}:{n}: duplicate news id '{rec['news_id']}'")
            items[rec["news_id"]] = {k: rec[k] for k in ("category", "subcategory", "title", "abstract")}
    return items


def parse_behaviors(path):
    """Return ``{user: [news ids]}``: history, then clicked impressions in time order, no repeats."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 5:
                raise CostError(f"{path}:{n}: expected 5 tab-separated columns, got {len(cols)}")
            _, user, when, history, impressions = cols
            try:
                t = dt.datetime.strptime(when, TIME_FORMAT)
            except ValueError:
                raise CostError(f"{path}:{n}: bad time '{when}' (expected like 11/12/2019 2:14:46 PM)") from None
            clicks = []
            for imp in impressions.split():
                news, _, label = imp.rpartition("-")
                if label not in ("0", "1") or not news:
                    raise CostError(f"{path}:{n}: bad impression '{imp}' (expected NEWSID-0 or NEWSID-1)")
                if label == "1":
                    clicks.append(news)
            rows.append((t, n, user, history.split(), clicks))
    rows.sort(key=lambda r: (r[0], r[1]))
    seqs = {}
    for _, _, user, history, clicks in rows:
        if user not in seqs:
            seqs[user] = list(history)
        seqs[user].extend(clicks)
    return {u: list(dict.fromkeys(s)) for u, s in seqs.items()}


def load_mind(folder):
    news_p, beh_p = require_files(folder, ["news.tsv", "behaviors.tsv"], "mind")
    return RawData(parse_news(news_p), parse_behaviors(beh_p), source_info([news_p, beh_p]))
