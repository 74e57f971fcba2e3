"""One exception type for every user-facing failure.

The CLI prints ``error: <message>`` on one line and exits with status 2, so each
message must say what was wrong and where, without a traceback.
"""


class CostError(Exception):
    """Bad input, a missing file, an inconsistent stage output or an unknown config key."""
