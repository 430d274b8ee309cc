"""Which metrics a PromQL expression reads (enough PromQL for dashboards and alert rules).

Not a full parser: it skips strings, range/subquery brackets, function calls, grouping
clauses (``by (…)``, ``on (…)``, …), keywords and numbers, and returns every remaining
identifier as a metric selector with the label names of its ``{…}`` matchers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GRAFANA_VARIABLES = re.compile(r"\$\{?__(rate_interval|interval|range)\}?")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_NUMBER = re.compile(r"(0x[0-9a-fA-F]+|\d+(\.\d*)?([eE][+-]?\d+)?)([a-zA-Z]+\d*)*")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start", "end"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}


@dataclass
class Selector:
    name: str
    labels: set[str] = field(default_factory=set)


def _matching(text: str, start: int, open_: str, close: str) -> int:
    """Index just past the bracket that closes the one at ``start``."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == open_:
            depth += 1
        elif text[index] == close:
            depth -= 1
            if depth == 0:
                return index + 1
    raise ValueError(f"unbalanced {open_!r} in {text!r}")


def selectors(expr: str) -> list[Selector]:
    """The metric selectors in ``expr``."""
    text = GRAFANA_VARIABLES.sub("5m", expr)
    # Strings only occur in matcher values: keep the matcher, blank the value.
    text = _STRING.sub('""', text)
    out: list[Selector] = []
    last: Selector | None = None
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
            continue
        if char == "[":
            index = _matching(text, index, "[", "]")
            continue
        if char == "{":
            end = _matching(text, index, "{", "}")
            labels = {m.group(1) for m in _MATCHER.finditer(text[index + 1:end - 1])}
            if last is not None:
                last.labels |= labels
            else:
                out.append(Selector("", labels))  # a bare {__name__=…} selector
            index = end
            last = None
            continue
        number = _NUMBER.match(text, index)
        if number and char.isdigit():
            index = number.end()
            last = None
            continue
        ident = _IDENT.match(text, index)
        if ident:
            word = ident.group(0)
            index = ident.end()
            rest = text[index:].lstrip()
            if word in GROUPING:
                if rest.startswith("("):
                    index = _matching(text, text.index("(", index), "(", ")")
                last = None
            elif rest.startswith("(") or word.lower() in KEYWORDS | AGGREGATIONS:
                last = None  # a function call or a keyword
            else:
                last = Selector(word)
                out.append(last)
            continue
        index += 1
        last = None
    return out


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr) if s.name}
