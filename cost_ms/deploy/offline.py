"""``python -m cost_ms recommend RUN_DIR|EXPORT_DIR --input users.jsonl --output recs.jsonl``.

Every line of the input is checked before any decoding (a bad line is one error naming its number, and nothing is
written); the histories are then decoded ``batch`` at a time and the answers, one line per input line in input
order (:func:`~.requests.answer`), go to a temp file renamed onto ``--output`` at the end.
"""
import json
import logging

from ..errors import CostError
from ..io import atomic_path
from .requests import answer, to_query

log = logging.getLogger("cost_ms.recommend")


def read_requests(path):
    """The parsed JSON object of every non-empty line of ``path``, with its line number."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError as e:
        raise CostError(f"cannot read {path}: {e.strerror}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                raise CostError(f"{path} line {n} is not valid JSON ({e.msg})") from None
    if not out:
        raise CostError(f"{path} holds no requests")
    return out


def recommend_file(model_dir, src, dst, k=10, device=None, exclude_history=None, batch=256):
    """Answer every request of the JSON-lines file ``src`` into ``dst``; returns how many."""
    from ..generator.recommend import open_model
    if batch < 1:
        raise CostError(f"--batch must be a whole number >= 1, got {batch}")
    requests = read_requests(src)
    rec = open_model(model_dir, device, exclude_history)
    queries = []
    for n, obj in requests:
        try:
            queries.append(to_query(rec, obj, k))
        except CostError as e:
            raise CostError(f"{src} line {n}: {e}") from None
    with atomic_path(dst) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for start in range(0, len(queries), batch):
                part = queries[start:start + batch]
                for q, rows in zip(part, rec.run(part)):
                    f.write(json.dumps(answer(rec, q, rows)) + "\n")
                log.info("%d / %d histories", start + len(part), len(queries))
    return len(queries)
