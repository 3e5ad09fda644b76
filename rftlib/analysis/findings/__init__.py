"""What each report found, in 2-5 sentences of prose computed from the runs, every number with its 95%
interval: the summary every report opens with, and the headline the sweep's index page quotes.

One module per report: ``run`` (RQ1, one run), ``strategies`` (RQ2), ``ood`` (RQ3), ``remedies`` (RQ4),
``theory``. Each returns a :class:`Findings`; displayed in a notebook it renders as Markdown and carries
its headline in the output's metadata (``rftlib.headline``), which ``rftlib.sweep.index`` reads back from
the executed notebook. "Nothing can be told apart" is a finding too, and is said as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

#: The key under which a displayed Findings stores its headline in the notebook output's metadata.
METADATA_KEY = "rftlib"


@dataclass
class Findings:
    """A report's opening: an optional ``title`` (the run or report in words, with its role) and its
    ``sentences``, the first being the headline."""

    sentences: list[str]
    title: str | None = None
    details: list[str] = field(default_factory=list)

    def __post_init__(self):
        # A sentence may open with a strategy's name ("full fine-tuning ..."): sentences start upper-case.
        self.sentences = [s[:1].upper() + s[1:] for s in self.sentences]

    @property
    def headline(self) -> str:
        return self.sentences[0] if self.sentences else ""

    def markdown(self) -> str:
        head = f"## {self.title}\n\n" if self.title else ""
        body = " ".join(self.sentences[1:])
        text = f"{head}**{self.headline}**" + (f" {body}" if body else "")
        if self.details:
            text += "\n\n" + "\n".join(f"- {line}" for line in self.details)
        return text

    def __str__(self) -> str:
        return ((self.title + "\n") if self.title else "") + " ".join(self.sentences)

    def _repr_markdown_(self):
        # IPython stores the metadata with the output: the index page reads the headline from there.
        return self.markdown(), {METADATA_KEY: {"headline": self.headline, "title": self.title}}


@dataclass
class Section:
    """A heading and its text, for a report section that appears only when its data exist (displayed from a
    code cell, so a report has no empty section)."""

    title: str
    text: str = ""
    level: int = 2

    def _repr_markdown_(self) -> str:
        return f"{'#' * self.level} {self.title}\n\n{self.text}".rstrip()


# ---- number formats shared by every report's sentences ----------------------------------------------

def pct(value: float, digits: int = 1) -> str:
    """An accuracy in [0, 1] as a percentage number: 0.7267 -> "72.7"."""
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.{digits}f}"


def signed(value: float, digits: int = 1, scale: float = 100) -> str:
    """+12.3 / −4.5 (a true minus sign), from a fraction by default (``scale`` 100: points)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    number = f"{abs(value) * scale:.{digits}f}"
    return ("−" if value * scale < -0.5 * 10 ** -digits else "+") + number


def span(low: float, high: float, digits: int = 1, scale: float = 100, sign: bool = False) -> str:
    """"[65.1, 79.2]" (fractions as percentage points), NaN bounds as "[no interval]"."""
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "[no interval]"
    if sign:
        return f"[{signed(low, digits, scale)}, {signed(high, digits, scale)}]"
    return f"[{low * scale:.{digits}f}, {high * scale:.{digits}f}]".replace("-", "−")


def number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def joined(parts: list[str], last: str = "and") -> str:
    """"a", "a and b", "a, b and c"."""
    parts = [p for p in parts if p]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + f" {last} " + parts[-1]


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


__all__ = ["METADATA_KEY", "Findings", "Section", "joined", "number", "pct", "plural", "signed", "span"]
