"""Progress of a long loop: a tqdm bar on a terminal, otherwise one log line per interval with rate and ETA.

A log file therefore gets a few hundred lines, not thousands of carriage-return updates.
"""
import logging
import sys
import time

log = logging.getLogger("cost_ms.progress")


def _clock(seconds):
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h{rest // 60:02d}m" if h else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """``update(step, text)`` with ``step`` the global step out of ``total``; only rank 0 shows anything."""

    def __init__(self, name, total, start=0, enabled=True):
        self.name, self.total, self.start, self.enabled = name, max(1, total), start, enabled
        self.t0 = time.time()
        self.bar = None
        if enabled and sys.stdout.isatty() and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=self.total, initial=start, desc=name, unit="step", mininterval=1.0, leave=False)

    def update(self, step, text=""):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            self.bar.set_postfix_str(text, refresh=False)
            return
        done = step - self.start
        elapsed = time.time() - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else 0.0
        log.info("%s step %d/%d (%.0f%%) %s | %.2f steps/s, elapsed %s, ETA %s", self.name, step, self.total,
                 100.0 * step / self.total, text, rate, _clock(elapsed), _clock(eta))

    def close(self):
        if self.bar is not None:
            self.bar.close()
