"""Shared helpers for benchmarks: run a measurement in a child process (own peak memory), print, save."""
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def peak_rss_mb():
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    child would report its parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(script, variant, *args, env=None, cwd=ROOT):
    """Run ``script --variant VARIANT`` in a fresh process (``env``: extra variables); it prints one JSON line last."""
    env = {**os.environ, "GLOG_v": "3", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    proc = subprocess.run([sys.executable, script, "--variant", variant, *args], capture_output=True, text=True,
                          env=env, cwd=cwd)
    if proc.returncode:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine():
    return {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def report(name, rows, columns, extra=None):
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))
    write_json(os.path.join(ROOT, "benchmarks", "results", f"{name}.json"),
               {"benchmark": name, **machine(), **(extra or {}), "rows": rows})


def write_json(path, obj):
    """Write ``obj`` as JSON to ``path`` atomically (temp file, then rename) and say where."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(path + ".tmp", path)
    print(f"wrote {os.path.relpath(path, ROOT)}")


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
