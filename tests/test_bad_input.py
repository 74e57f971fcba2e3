"""Every rejected input in one place, through the real CLI.

Each case asserts the contract users rely on: exit status 2, exactly one line ``error: ...``
(no traceback) that says what is wrong, and nothing written or changed on disk: the run
folder is byte-for-byte as it was before the command.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, shared

ML = os.path.join(ROOT, "configs", "ml-latest-small.yaml")
OFFICE = os.path.join(ROOT, "configs", "amazon-office.yaml")
MIND = os.path.join(ROOT, "configs", "mind.yaml")
TINY = ["--set", "dataset.max_items=150", "--set", "tokenizer.epochs=2", "--set", "tokenizer.batch_size=64",
        "--set", "tokenizer.codebook_size=8", "--set", "generator.epochs=1", "--set", "generator.enc_layers=1",
        "--set", "generator.dec_layers=1", "--set", "generator.d_model=32", "--set", "generator.num_heads=2",
        "--set", "generator.head_dim=16", "--set", "generator.ffn_dim=64", "--set", "generator.max_history=5",
        "--set", "generator.length_buckets=[]",
        "--set", "generator.beam_size=10", "--set", "eval.ks=[5,10]", "--set", "generator.valid_users=50", "-q"]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", GLOG_v="3", TOKENIZERS_PARALLELISM="false")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "cost_ms", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=600)


def snapshot(folder):
    """``{relative path: sha1}`` of every file under ``folder`` (empty if it does not exist)."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = hashlib.sha1(f.read()).hexdigest()
    return out


def rejects(args, message, folder):
    """Run the CLI; require one ``error:`` line containing ``message`` and ``folder`` untouched."""
    before = snapshot(folder)
    proc = cli(*args)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr[-2000:]
    assert message in errors[0], errors[0]
    assert snapshot(folder) == before, "the failed command changed files"
    return errors[0]


# ------------------------------------------------------------------ raw data
def _office_like(tmp_path, inter, items):
    folder = tmp_path / "office"
    folder.mkdir()
    (folder / "Office.inter.json").write_text(inter)
    (folder / "Office.item.json").write_text(items)
    return folder


ITEMS = json.dumps({str(i): {"title": f"t{i}", "description": "", "brand": "", "categories": ""} for i in range(4)})


@pytest.mark.parametrize("inter, items, message", [
    ('{"0": [0, 1, 2], ', ITEMS, "is not valid JSON (line 1"),
    (json.dumps({"0": [0, 1, 2]}), '{"0": {"title": "a"}, "0": {"title": "b"}}', "duplicate key(s) ['0']"),
    (json.dumps({"0": [0, 1, "x"]}), ITEMS, "must map to a list of integer item ids"),
    (json.dumps({"0": [0, 1, 9]}), ITEMS, "have no item record"),
    (json.dumps({"0": [0, 1], "1": [2]}), ITEMS, "no user has >= 3 items"),
])
def test_bad_json_data(tmp_path, inter, items, message):
    folder = _office_like(tmp_path, inter, items)
    run = tmp_path / "run"
    rejects(["prepare", OFFICE, "--set", f"dataset.path={folder}", "--out", run, "-q"], message, run)
    assert not run.exists()


def _ml_like(tmp_path, ratings, movies):
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + ratings)
    (folder / "movies.csv").write_text("movieId,title,genres\n" + movies)
    return folder


MOVIES = "1,A (1990),Drama\n2,B (1991),Comedy\n3,C (1992),Drama\n"


@pytest.mark.parametrize("ratings, movies, message", [
    ("1,1,4.0,10\n1,2,4.0,oops\n1,3,4.0,12\n", MOVIES, "data row 2: column 'timestamp' is not a number ('oops')"),
    ("1,1,4.0,10\n1,2,4.0,11\n1,3,4.0,12\n", MOVIES + "2,B again (1991),Drama\n", "duplicate item id(s) ['2']"),
    ("1,1,4.0,10\n1,2,4.0,11\n1,7,4.0,12\n", MOVIES, "have no item record"),
    ('1,1,4.0,10\n1,"2,4.0,11\n', MOVIES, "malformed file"),
])
def test_bad_csv_data(tmp_path, ratings, movies, message):
    folder = _ml_like(tmp_path, ratings, movies)
    run = tmp_path / "run"
    rejects(["prepare", ML, "--set", f"dataset.path={folder}", "--out", run, "-q"], message, run)


@pytest.mark.parametrize("news_extra, behaviors, message", [
    ("", "1\tU1\t11/11/2019 9:05:58 AM\tN1\n", "expected 5 tab-separated columns, got 4"),
    ("", "1\tU1\tyesterday\tN1\tN1-1\n", "bad time 'yesterday'"),
    ("", "1\tU1\t11/11/2019 9:05:58 AM\tN1\tN1-yes\n", "bad impression 'N1-yes'"),
    ("N1\tnews\tsports\tAgain\tA\turl\t[]\t[]\n", "1\tU1\t11/11/2019 9:05:58 AM\tN1\tN1-1\n", "duplicate news id 'N1'"),
])
def test_bad_tsv_data(tmp_path, news_extra, behaviors, message):
    folder = tmp_path / "mind"
    folder.mkdir()
    (folder / "news.tsv").write_text("N1\tnews\tsports\tT\tA\turl\t[]\t[]\n" + news_extra)
    (folder / "behaviors.tsv").write_text(behaviors)
    run = tmp_path / "run"
    rejects(["prepare", MIND, "--set", f"dataset.path={folder}", "--out", run, "-q"], message, run)


def test_missing_folder_and_missing_file(tmp_path):
    run = tmp_path / "run"
    rejects(["prepare", ML, "--set", f"dataset.path={tmp_path / 'nowhere'}", "--out", run, "-q"],
            "data folder not found", run)
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n")
    rejects(["prepare", ML, "--set", f"dataset.path={folder}", "--out", run, "-q"], "is missing file movies.csv", run)


@pytest.mark.parametrize("where, prefix, message", [
    (None, "Office", "dataset.path must point at a folder with Office.inter.json and Office.item.json"),
    ("nowhere", "Office", "lcrec-json data folder not found: "),
    ("office", "Offce", "lcrec-json: no Offce.inter.json in {folder}; this folder has: Office"),
    ("office", None, "dataset.prefix is not set: it names the files <prefix>.inter.json and <prefix>.item.json "
                     "in {folder}; this folder has: Office"),
])
def test_lcrec_json_bad_folder_or_prefix(tmp_path, where, prefix, message):
    folder = _office_like(tmp_path, json.dumps({"0": [0, 1, 2]}), ITEMS)
    run = tmp_path / "run"
    args = ["prepare", OFFICE, "--set", "dataset.name=lcrec-json", "--out", run, "-q"]
    if where:
        args += ["--set", f"dataset.path={tmp_path / where}"]
    if prefix:
        args += ["--set", f"dataset.prefix={prefix}"]
    rejects(args, message.format(folder=folder), run)
    assert not run.exists()


# ------------------------------------------------------------------ config
@pytest.mark.parametrize("override, message", [
    ("tokenizer.levells=3", "unknown config key 'tokenizer.levells'"),
    ("nosuchsection.x=1", "unknown config key 'nosuchsection'"),
    ("tokenizer.levels=three", "config key 'tokenizer.levels' in --set must be int, got str"),
    ("generator.dropout=[0.1]", "config key 'generator.dropout' in --set must be float, got list"),
    ("run.data_parallel=1", "config key 'run.data_parallel' in --set must be bool"),
])
def test_bad_config(tmp_path, override, message):
    run = tmp_path / "run"
    rejects(["prepare", ML, "--set", override, "--out", run], message, run)


def test_unknown_key_in_a_config_file(tmp_path):
    cfg = tmp_path / "configs"
    cfg.mkdir()
    shutil.copy(os.path.join(ROOT, "configs", "base.yaml"), cfg)
    (cfg / "mine.yaml").write_text("tokenizer:\n  codebok_size: 32\n")
    run = tmp_path / "run"
    rejects(["prepare", cfg / "mine.yaml", "--out", run], "unknown config key 'tokenizer.codebok_size'", run)


# ------------------------------------------------------------------ stage outputs
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished run on real data (random embeddings: the encoder is not what is tested)."""
    shared("ml-latest-small")
    run = tmp_path_factory.mktemp("run")
    for stage in ("prepare", "tokenize", "train"):
        if stage == "tokenize":
            _write_embeddings(run, np.random.default_rng(0).normal(size=(150, 16)))
        proc = cli(stage, ML, "--out", run, *TINY)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return run


def _write_embeddings(run, emb, dim=None):
    """An embed-stage folder as any tool might leave it (``dim`` overrides what meta.json claims)."""
    from cost_ms.io import write_meta
    folder = run / "embed-minilm"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    emb = np.asarray(emb, np.float32)
    np.save(folder / "item_emb.npy", emb)
    write_meta(str(folder), "embed", dataset="ml-latest-small", model="test", dim=dim or int(emb.shape[1]),
               normalized=False, num_items=len(emb))


@pytest.fixture
def fresh_copy(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    return run


@pytest.mark.parametrize("make, message", [
    (lambda rng: np.where(np.arange(150)[:, None] == 7, np.nan, rng.normal(size=(150, 16))), "1 row(s) with NaN/inf (first rows: [7])"),
    (lambda rng: np.where(np.arange(150)[:, None] == 3, np.inf, rng.normal(size=(150, 16))), "1 row(s) with NaN/inf (first rows: [3])"),
    (lambda rng: rng.normal(size=(149, 16)), "have 149 rows but the item table has 150"),
])
def test_bad_embeddings(fresh_copy, make, message):
    _write_embeddings(fresh_copy, make(np.random.default_rng(1)))
    shutil.rmtree(fresh_copy / "tokenize-minilm-rqvae-co")
    rejects(["tokenize", ML, "--out", fresh_copy, *TINY], message, fresh_copy)


def test_embedding_width_disagrees_with_its_meta(fresh_copy):
    _write_embeddings(fresh_copy, np.random.default_rng(1).normal(size=(150, 16)), dim=768)
    rejects(["tokenize", ML, "--out", fresh_copy, *TINY], "has width 16, its meta.json says 768", fresh_copy)


def test_checkpoint_from_a_different_config(fresh_copy):
    rejects(["tokenize", ML, "--out", fresh_copy, *TINY, "--set", "tokenizer.lr=0.01"],
            "was made with a different config; pass --fresh", fresh_copy)
    rejects(["train", ML, "--out", fresh_copy, *TINY, "--set", "generator.d_model=48", "--set", "generator.epochs=2"],
            "was made with a different config; pass --fresh", fresh_copy)


def test_checkpoint_from_other_embeddings(fresh_copy):
    _write_embeddings(fresh_copy, np.random.default_rng(5).normal(size=(150, 16)))
    rejects(["tokenize", ML, "--out", fresh_copy, *TINY], "was made with a different config", fresh_copy)


def test_semantic_ids_from_another_data_set(fresh_copy):
    from cost_ms.io import read_json, write_json
    meta_p = fresh_copy / "tokenize-minilm-rqvae-co" / "meta.json"
    write_json(str(meta_p), {**read_json(str(meta_p)), "dataset": "amazon-office"})
    shutil.rmtree(fresh_copy / "generator-minilm-rqvae-co")
    rejects(["train", ML, "--out", fresh_copy, *TINY], "are for data set 'amazon-office', not 'ml-latest-small'",
            fresh_copy)


def test_semantic_ids_made_with_other_tokenizer_settings(fresh_copy):
    # center_inputs is not in the folder's name: only the saved config.yaml can tell the IDs are stale
    for cmd in ("train", "evaluate"):
        rejects([cmd, ML, "--out", fresh_copy, *TINY, "--set", "tokenizer.center_inputs=true"],
                "tokenize-minilm-rqvae-co was made with other settings: tokenizer.center_inputs False there, True "
                "here; run `python -m cost_ms tokenize CONFIG --fresh` to replace it", fresh_copy)


def test_unfinished_stage_is_refused(fresh_copy):
    os.remove(fresh_copy / "tokenize-minilm-rqvae-co" / "meta.json")
    rejects(["train", ML, "--out", fresh_copy, *TINY], "run `python -m cost_ms tokenize CONFIG` first", fresh_copy)


@pytest.mark.parametrize("history, message", [
    ("no-such-item", "unknown item id(s) ['no-such-item']"),
    ("", "history is empty"),
    (",,", "history is empty"),
])
def test_bad_recommend_history(trained, history, message):
    rejects(["recommend", trained / "generator-minilm-rqvae-co", "--history", history], message, trained)


def test_recommend_bad_k_or_switch(trained):
    from cost_ms.data import load
    first = load(str(trained / "data")).items["item_id"].iloc[0]
    rejects(["recommend", trained / "generator-minilm-rqvae-co", "--history", first, "-k", "0"],
            "k must be a whole number >= 1, got 0", trained)
    proc = cli("recommend", str(trained / "generator-minilm-rqvae-co"), "--history", first, "--exclude-history", "no")
    assert proc.returncode == 2 and "invalid choice: 'no'" in proc.stderr


def test_recommend_k_larger_than_the_beam(trained):
    from cost_ms.data import load
    first = load(str(trained / "data")).items["item_id"].iloc[0]
    rejects(["recommend", trained / "generator-minilm-rqvae-co", "--history", first, "-k", "50"],
            "k = 50 is larger than generator.beam_size (10)", trained)


@pytest.mark.parametrize("overrides, message", [
    (["eval.early_stop=ndcg@10", "eval.ks=[5,20]"], "eval.early_stop 'ndcg@10' is not a metric this run computes"),
    (["eval.early_stop=hits@5"], "eval.early_stop 'hits@5' is not a metric this run computes"),
    (["tokenizer.loss=random"], "random hashing is tokenizer.method=random"),
    (["tokenizer.method=vq"], "unknown tokenizer.method 'vq'"),
    (["eval.exclude_history=maybe"], "config key 'eval.exclude_history' in --set must be bool"),
    (["eval.ks=[]"], "eval.ks must list at least one cut-off"),
    (["eval.ks=[0]"], "eval.ks must be distinct whole numbers >= 1, got [0]"),
    (["generator.batch_size=0"], "generator.batch_size must be a whole number >= 1, got 0"),
    (["generator.max_history=0"], "generator.max_history must be a whole number >= 1, got 0"),
    (["generator.length_buckets=[30,2]"], "generator.length_buckets must be increasing history lengths >= 1"),
])
def test_bad_training_config(tmp_path, overrides, message):
    run = tmp_path / "run"
    args = ["train", ML, "--out", run]
    for o in overrides:
        args += ["--set", o]
    rejects(args, message, run)
