"""MovieLens: GroupLens CSV (ml-latest-small) and RecBole atomic files (ml-100k)."""
import pandas as pd

from ..errors import CostError
from .dataset import RawData
from .sources import check_unique, fetch_ml100k, require_files, source_info


def _sequences(df, user, item, time, min_rating, rating):
    if min_rating:
        df = df[df[rating] >= min_rating]
    df = df.assign(_row=range(len(df)))
    # ties in timestamps keep file order, which the stable sort on _row guarantees
    df = df.sort_values([user, time, "_row"], kind="stable")
    return {str(u): [str(i) for i in g] for u, g in df.groupby(user, sort=False)[item]}


def _read_csv(path, columns, numeric=(), **kw):
    """Read a CSV/TSV, requiring ``columns``; ``numeric`` columns must parse as numbers in every row."""
    try:
        df = pd.read_csv(path, **kw)
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise CostError(f"{path}: malformed file ({str(e).splitlines()[0]})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise CostError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    for col in numeric:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna().to_numpy().nonzero()[0]
        if len(bad):
            row = int(bad[0])
            raise CostError(f"{path}: data row {row + 1}: column '{col}' is not a number ({df[col].iloc[row]!r})")
        df[col] = values
    return df


def load_ml_latest_small(folder, min_rating=0.0):
    ratings_p, movies_p = require_files(folder, ["ratings.csv", "movies.csv"], "ml-latest-small")
    ratings = _read_csv(ratings_p, ["userId", "movieId", "rating", "timestamp"], numeric=["rating", "timestamp"])
    movies = _read_csv(movies_p, ["movieId", "title", "genres"], dtype={"movieId": str})
    check_unique(movies["movieId"], movies_p)
    ratings["movieId"] = ratings["movieId"].astype(str)
    items = {}
    for mid, title, genres in movies[["movieId", "title", "genres"]].itertuples(index=False):
        g = "" if genres == "(no genres listed)" else ", ".join(str(genres).split("|"))
        items[mid] = {"title": title, "genres": g}
    seqs = _sequences(ratings, "userId", "movieId", "timestamp", min_rating, "rating")
    return RawData(items, seqs, source_info([ratings_p, movies_p]))


def load_ml100k(folder=None, min_rating=0.0):
    folder = folder or fetch_ml100k()
    inter_p, item_p = require_files(folder, ["ml-100k.inter", "ml-100k.item"], "ml-100k")
    inter = _read_csv(inter_p, ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
                      numeric=["rating:float", "timestamp:float"], sep="\t",
                      dtype={"item_id:token": str, "user_id:token": str})
    item = _read_csv(item_p, ["item_id:token", "movie_title:token_seq"], sep="\t",
                     dtype=str, keep_default_na=False, quoting=3)
    check_unique(item["item_id:token"], item_p)
    items = {}
    for rec in item.to_dict("records"):
        items[rec["item_id:token"]] = {
            "title": rec["movie_title:token_seq"], "year": rec.get("release_year:token", ""),
            "genres": ", ".join(rec.get("class:token_seq", "").split())}
    seqs = _sequences(inter, "user_id:token", "item_id:token", "timestamp:float", min_rating, "rating:float")
    return RawData(items, seqs, source_info([inter_p, item_p]))
