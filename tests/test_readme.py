"""The README and the docs cannot drift from the code.

* The README's Python example runs, as written, against a tiny trained run (only its run folder and item ids are
  swapped for the tiny run's), and answers as the prose beside it says.
* Every ``python -m cost_ms <command>`` the README quotes has a ``--help`` that lists each option the quote uses;
  every command quoted in the README and the guides (docs/*.md, DEVELOPERS.md) names options its command has,
  config keys the schema has and files that exist, and the complete ones parse with the real parser.
* The README stays a short guide: at most 150 lines, and neither it nor a guide quotes a commit hash.
"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.test_kill_resume import CFG, ENV, SMALL, _copy, base, cli  # noqa: F401  (base is a fixture)

README = os.path.join(ROOT, "README.md")
GUIDES = [README, os.path.join(ROOT, "DEVELOPERS.md"), *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]
EXAMPLE_RUN = "runs/ml-100k/generator-causal-minilm-simcit-text+cf+attr"
CAUSAL = ["--set", "generator.arch=causal", "--set", "generator.window_stride=2", "--set", "generator.epochs=1"]
PLACEHOLDER = re.compile(r"[\[\]|$<>]|\.\.\.")            # synopsis or shell syntax: check options, do not parse


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def fenced_blocks(text, lang=None):
    """The fenced code blocks of a markdown text, ``lang`` only when given (``python``, ``bash``, or '' for none)."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
    return [body for tag, body in blocks if lang is None or tag == lang]


def cli_quotes(text):
    """Each ``python -m cost_ms ...`` command a markdown text quotes (in code blocks or inline code), as a string
    from the command name on: continuation lines joined, comments and shell separators cut."""
    spans = [b.replace("\\\n", " ") for b in fenced_blocks(text)]
    spans += re.findall(r"`([^`\n]*python -m cost_ms [^`\n]*)`", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M))
    out = []
    for span in spans:
        for line in span.splitlines():
            for m in re.finditer(r"python -m cost_ms (.*?)(?=\s+#|\s*;|\s*&&|\s+\|\s|\s*&$|$)", line):
                out.append(m.group(1).strip())
    return out


def _help(command, cache={}):
    if command not in cache:
        proc = subprocess.run([sys.executable, "-m", "cost_ms", command, "--help"], cwd=ROOT, env=ENV,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"python -m cost_ms {command} --help: {proc.stderr[-2000:]}"
        cache[command] = proc.stdout
    return cache[command]


def _config_keys():
    from dataclasses import fields

    from cost_ms.config import SECTIONS
    return {f"{name}.{f.name}" for name, cls in SECTIONS.items() for f in fields(cls)}


def check_quote(quote, keys):
    """What is wrong with one quoted command (a list of lines; empty when nothing is)."""
    bad = []
    words = quote.split()
    commands = words[0].split("|")
    for command in commands:
        text = _help(command)
        for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(words[1:])):
            if not re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text):
                bad.append(f"{command}: option {flag} is not in its --help")
    for key in re.findall(r"--set\s+[\"']?([a-z_]+\.[a-z_]+)=", quote):
        if key not in keys:
            bad.append(f"--set {key}: no such config key")
    for path in re.findall(r"(?<![\w/])(configs/[\w.-]+\.yaml)", quote):
        if not os.path.exists(os.path.join(ROOT, path)):
            bad.append(f"{path} does not exist")
    if not PLACEHOLDER.search(quote) and len(commands) == 1:
        from cost_ms.cli import build_parser
        try:
            build_parser().parse_args(shlex.split(quote))
        except SystemExit:
            bad.append("the real parser refuses it")
    return [f"`python -m cost_ms {quote}`: {b}" for b in bad]


def test_the_readme_is_short_and_no_guide_quotes_a_commit_hash():
    assert len(_read(README).splitlines()) <= 150
    hashes = []
    for path in GUIDES:
        for word in re.findall(r"(?<![\w./-])[0-9a-f]{7,40}(?![\w/-])", _read(path)):
            if re.search(r"[a-f]", word) and re.search(r"\d", word):
                hashes.append(f"{os.path.relpath(path, ROOT)}: {word}")
    assert not hashes, hashes


def test_every_command_the_readme_quotes_has_a_help_listing_its_options():
    quotes = cli_quotes(_read(README))
    commands = {c for q in quotes for c in q.split()[0].split("|")}
    assert {"prepare", "train", "evaluate", "baseline", "recommend", "export", "serve"} <= commands, commands
    keys = _config_keys()
    bad = [b for q in quotes for b in check_quote(q, keys)]
    assert not bad, "\n".join(bad)


def test_every_command_the_guides_quote_parses():
    keys = _config_keys()
    bad = []
    for path in GUIDES[1:]:
        for q in cli_quotes(_read(path)):
            bad += [f"{os.path.relpath(path, ROOT)}: {b}" for b in check_quote(q, keys)]
    assert not bad, "\n".join(bad)


def test_scripts_tools_and_benchmarks_the_guides_name_exist():
    bad = []
    for path in GUIDES:
        text = _read(path)
        for script in re.findall(r"(?<![\w/])((?:scripts|tools|benchmarks)/[\w-]+\.(?:py|sh))", text):
            if not os.path.exists(os.path.join(ROOT, script)):
                bad.append(f"{os.path.relpath(path, ROOT)}: {script}")
        for name in re.findall(r"bash scripts/run_(?:train|eval|distribute_train)\.sh ([\w-]+) ", text):
            if name.upper() != name and not os.path.exists(os.path.join(ROOT, "configs", f"{name}.yaml")):
                bad.append(f"{os.path.relpath(path, ROOT)}: configs/{name}.yaml")
    assert not bad, bad


# ------------------------------------------------------------------ the Python example, run
@pytest.fixture(scope="module")
def tiny_run(base, tmp_path_factory):
    """A tiny causal run through the real CLI, like the main job's."""
    run = _copy(base, tmp_path_factory.mktemp("readme") / "run")
    cli("tokenize", CFG, "--out", run, *SMALL)
    cli("train", CFG, "--out", run, *SMALL, *CAUSAL)
    return run


def test_the_readme_python_example_runs(tiny_run, tmp_path):
    readme = _read(README)
    blocks = fenced_blocks(readme, "python")
    assert len(blocks) == 1
    example = blocks[0]
    assert f'"{EXAMPLE_RUN}"' in example
    assert f"run folder: {EXAMPLE_RUN}" in readme                  # the folder the main job says it wrote
    from cost_ms.data import load
    prep = load(os.path.join(tiny_run, "data"))
    real = prep.items["item_id"].astype(str).tolist()
    ids = list(dict.fromkeys(re.findall(r'"(\d+)"', example)))     # the example's item ids, in order
    swap = dict(zip(ids, real[::7]))
    gen = glob.glob(os.path.join(tiny_run, "generator-causal-*"))         # the tiny run's tokenizer is its own
    assert len(gen) == 1, gen
    code = example.replace(f'"{EXAMPLE_RUN}"', repr(gen[0]))
    code = re.sub(r'"(\d+)"', lambda m: repr(swap[m.group(1)]), code)
    out = tmp_path / "answers.json"
    code += f"\nimport json\njson.dump(answers, open({str(out)!r}, 'w'))\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=dict(ENV, PYTHONPATH=ROOT),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout.strip().splitlines()
    assert len(printed) == 10 and all(line.split()[0] in real for line in printed), printed
    history = [swap[i] for i in re.findall(r'"(\d+)"', re.search(r"recommend\((\[[^]]*\])", example).group(1))]
    assert not set(history) & {line.split()[0] for line in printed}            # the history never comes back
    first, second = json.load(open(out))
    excluded = [swap[i] for i in re.findall(r'"(\d+)"', re.search(r"exclude=(\[[^]]*\])", example).group(1))]
    allowed = [swap[i] for i in re.findall(r'"(\d+)"', re.search(r"candidates=(\[[^]]*\])", example).group(1))]
    assert len(first) == 5 and not set(excluded) & {r["item_id"] for r in first}
    assert len(second) == 5 and {r["item_id"] for r in second} <= set(allowed)


def _anchor(heading):
    """GitHub's anchor of a markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def test_links_between_the_guides_resolve():
    bad = []
    for path in GUIDES + sorted(glob.glob(os.path.join(ROOT, "docs", "log", "*.md"))):
        text = re.sub(r"^```.*?^```", "", _read(path), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+://", target):
                continue
            file, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            if not os.path.exists(dest):
                bad.append(f"{os.path.relpath(path, ROOT)}: {target}")
            elif anchor and dest.endswith(".md"):
                headings = re.findall(r"^#+ (.+)$", re.sub(r"^```.*?^```", "", _read(dest), flags=re.S | re.M), re.M)
                if anchor not in {_anchor(h) for h in headings}:
                    bad.append(f"{os.path.relpath(path, ROOT)}: {target} (no such heading)")
    assert not bad, bad
