"""One request format for the HTTP service and the offline file: a JSON object ->
:class:`~cost_ms.generator.recommend.Query` (a one-line :class:`~cost_ms.errors.CostError` when it is bad)::

    {"history": ["id", ...], "k": 10, "exclude_history": true, "exclude": ["id", ...], "candidates": ["id", ...],
     "user": "u1"}

Only ``history`` is required; ``user`` names the answer (and TIGER's hashed user token, where the run has one).
"""
from ..errors import CostError

FIELDS = ("history", "k", "exclude_history", "exclude", "candidates", "user")


def to_query(rec, obj, k=10, exclude_history=None):
    """``obj`` (parsed JSON) -> a checked query of ``rec``; ``k`` and ``exclude_history``: defaults."""
    if not isinstance(obj, dict):
        raise CostError(f"a request must be a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise CostError(f"unknown field(s) {unknown}; a request has {', '.join(FIELDS)}")
    if "history" not in obj:
        raise CostError("a request needs \"history\": a list of item ids, oldest first")
    user = obj.get("user")
    if user is not None and not isinstance(user, (str, int)):
        raise CostError("user must be a string or an integer")
    excl = obj.get("exclude_history", exclude_history)
    return rec.query(obj["history"], obj.get("k", k), excl, obj.get("exclude") or (), obj.get("candidates"), user)


def answer(rec, query, rows):
    """The JSON answer to ``query``: its items and, when fewer than ``k`` exist, why."""
    out = {"items": rows, "k": query.k, "history_excluded": query.history_excluded}
    if query.user is not None:
        out = {"user": query.user, **out}
    if len(rows) < query.k:
        out["warning"] = f"only {len(rows)} item(s) returned: {rec.shortfall(query)}"
    return out
