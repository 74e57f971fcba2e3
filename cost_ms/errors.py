"""One exception type for every user-facing failure, and the one wrapper that reports it.

The CLI (and every tool in ``tools/``) prints ``error: <message>`` on one line and exits with
status 2, so each message must say what was wrong and where, without a traceback. Library code
never names CLI syntax: the wrapper adds the hint (which command makes a missing stage, the
``--fresh`` flag) from the error's kind.
"""
import sys


def command_for(stage):
    """The command that makes ``stage``'s output: the CLI names every stage after its command."""
    return f"python -m cost_ms {stage} CONFIG"


class CostError(Exception):
    """Bad input, a missing file, an inconsistent stage output or an unknown config key."""

    def hint(self):
        return ""


class StageError(CostError):
    """A problem with one stage's output; ``stage`` names it, so the hint can say which command makes it."""

    def __init__(self, message, stage):
        super().__init__(message)
        self.stage = stage


class MissingStage(StageError):
    """A stage's output folder has no ``meta.json``: that stage has not run (or did not finish)."""

    def hint(self):
        return f"run `{command_for(self.stage)}` first"


class CheckpointMismatch(CostError):
    """A resumable checkpoint was made with another config or on other data."""

    def hint(self):
        return "pass --fresh to start over or choose another --out"


class StaleStage(StageError):
    """A stage's output was made with settings other than the current config's."""

    def hint(self):
        return f"run `{command_for(self.stage)} --fresh` to replace it, or choose another --out"


def report(fn, *args, **kw):
    """Run ``fn``; a :class:`CostError` becomes one ``error:`` line on stderr and exit status 2."""
    try:
        fn(*args, **kw)
    except CostError as e:
        hint = e.hint()
        print(f"error: {e}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        return 2
    return 0
