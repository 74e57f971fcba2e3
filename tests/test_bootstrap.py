"""tools/paired_bootstrap.py on hand-made per-user ranks, and the ranks files evaluation writes."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tools"))
from paired_bootstrap import paired_bootstrap  # noqa: E402

A = [0, 1, -1, 5, 12]          # target ranks of 5 users (-1: not returned)
B = [-1, -1, -1, 5, 0]


def test_differences_are_the_hand_computed_ones():
    # recall@10: A hits users 0, 1, 3; B hits 3, 4 -> per-user differences 1, 1, 0, 0, -1
    r = paired_bootstrap(np.array(A), np.array(B), "recall@10", resamples=200)
    assert r["a"] == pytest.approx(0.6) and r["b"] == pytest.approx(0.4) and r["diff"] == pytest.approx(0.2)
    # ndcg@10: A 1, 1/log2(3), 0, 1/log2(7), 0; B 0, 0, 0, 1/log2(7), 1
    r = paired_bootstrap(np.array(A), np.array(B), "ndcg@10", resamples=200)
    assert r["diff"] == pytest.approx((1 + 1 / np.log2(3) - 1) / 5)
    lo, hi = r["ci95"]
    assert lo < r["diff"] < hi and not r["excludes_0"]        # 5 users: far too few to tell


def test_identical_runs_are_level_and_a_clear_gap_is_not():
    same = paired_bootstrap(np.array(A * 10), np.array(A * 10), "recall@5")
    assert same["diff"] == 0 and same["ci95"] == [0.0, 0.0] and not same["excludes_0"]
    better = paired_bootstrap(np.zeros(50, np.int64), np.full(50, -1), "ndcg@5")
    assert better["ci95"] == [1.0, 1.0] and better["excludes_0"]
    mixed = paired_bootstrap(np.r_[np.zeros(30), np.full(70, -1)].astype(int), np.full(100, -1), "recall@1")
    assert mixed["excludes_0"] and 0.2 < mixed["ci95"][0] < 0.3 < mixed["ci95"][1] < 0.4


def _run(folder, ranks, users=None):
    folder.mkdir()
    users = users or [str(u) for u in range(len(ranks))]
    (folder / "ranks-history-excluded.json").write_text(json.dumps(
        {"exclude_history": True, "test": {"users": users, "rank": ranks}}))
    return str(folder)


def test_cli_table_json_and_refusals(tmp_path):
    a, b = _run(tmp_path / "a", A * 20), _run(tmp_path / "b", B * 20)
    out = tmp_path / "cmp.json"
    tool = [sys.executable, os.path.join(ROOT, "tools", "paired_bootstrap.py")]
    proc = subprocess.run(tool + [a, b, "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "100 test users, protocol history-excluded, 1000 resamples" in proc.stdout
    res = json.loads(out.read_text())
    assert [r["metric"] for r in res["rows"]] == ["recall@10", "ndcg@10"]
    assert res["rows"][0]["diff"] == pytest.approx(0.2)
    other = _run(tmp_path / "c", B * 20, users=[f"x{u}" for u in range(100)])
    bad = subprocess.run(tool + [a, other], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: the two runs scored different users")
    missing = subprocess.run(tool + [a, b, "--protocol", "raw"], capture_output=True, text=True)
    assert missing.returncode == 2 and "ranks-raw.json: evaluate the run" in missing.stderr
