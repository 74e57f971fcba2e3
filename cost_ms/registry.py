"""A tiny name -> factory registry, used instead of if-chains (FuxiCTR / mindcv style)."""
from .errors import CostError


class Registry:
    def __init__(self, kind):
        self.kind = kind
        self._items = {}

    def register(self, name):
        def deco(fn):
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' registered twice")
            self._items[name] = fn
            return fn
        return deco

    def get(self, name):
        if name not in self._items:
            raise CostError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(sorted(self._items))}")
        return self._items[name]

    def create(self, name, **kw):
        return self.get(name)(**kw)

    def names(self):
        return sorted(self._items)

    def __contains__(self, name):
        return name in self._items
