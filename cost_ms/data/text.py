"""Item text from a per-dataset template, with empty fields dropped cleanly.

``"Item category: {category}. Title: {title}. Description: {description}."`` with an empty
description gives ``"Item category: Pens. Title: Blue pen."`` - the whole sentence that
holds the empty field goes, not just the value.
"""
import re
import string

from ..errors import CostError

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_SPACE = re.compile(r"\s+")


def template_fields(template):
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def check_template(template, available):
    missing = [f for f in template_fields(template) if f not in available]
    if missing:
        raise CostError(f"text_template uses field(s) {missing} that this data set does not have; "
                        f"available: {sorted(available)}")


def clean(value):
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN from pandas
        return ""
    if isinstance(value, (list, tuple)):
        value = ", ".join(clean(v) for v in value if clean(v))
    return _SPACE.sub(" ", str(value)).strip()


def render(template, fields):
    """Fill ``template`` from ``fields``; sentences whose fields are all empty are dropped."""
    parts = []
    for sentence in _SENTENCE.split(template.strip()):
        names = template_fields(sentence)
        values = {n: clean(fields.get(n)) for n in names}
        if names and not any(values.values()):
            continue
        parts.append(sentence.format_map(values))
    text = " ".join(parts)
    # a sentence with one of two fields empty leaves ", ." or ": ," behind
    text = re.sub(r"\s*,\s*([.,])", r"\1", text)
    text = re.sub(r":\s*,\s*", ": ", text)
    return _SPACE.sub(" ", text).strip()
