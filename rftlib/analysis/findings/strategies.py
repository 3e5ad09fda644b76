"""RQ2's opening: which strategy has the best accuracy/robustness trade-off on each task (and where none can
be told apart), which runs fell from their robustness peak, whether the known-answer controls behave as
built, and what task complexity says."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from rftlib.analysis.findings import Findings, joined, pct, plural, span
from rftlib.analysis.results import read_config
from rftlib.analysis.uncertainty import TRADEOFF
from rftlib.runs import measures
from rftlib.runs.roles import NEGATIVE, POSITIVE, strategy_name

CONTROLS = (POSITIVE, NEGATIVE)
MAX_TASKS = 4  # beyond this many tasks, the ranking sentence counts wins instead of naming each task


def is_control(task: str) -> bool:
    return task.startswith(CONTROLS)


def _auc(aucs: pd.DataFrame, task: str, strategy: str) -> str:
    cell = aucs[(aucs["dataset"] == task) & (aucs["strategy"] == strategy)].iloc[0]
    return f"{cell['mean']:.3f} {span(cell['boot_low'], cell['boot_high'], 3, 1)}"


def ranking_sentence(stability: pd.DataFrame, aucs: pd.DataFrame, what: str | None) -> str | None:
    """Per task (controls aside): the best strategy and whether any other can be told apart from it."""
    rows = stability[~stability["dataset"].map(is_control)]
    if rows.empty:
        return None
    measured = f" (robust accuracy: {what})" if what else ""
    if len(rows) > MAX_TASKS:
        wins = rows.groupby("best").size().sort_values(ascending=False)
        clear = rows[rows["indistinguishable"].map(len) == 0]
        return (f"Largest Pareto AUC{measured}: " + joined([f"{strategy_name(s)} on {plural(n, 'task')}" for s, n in wins.items()])
                + f" of {len(rows)}; on {plural(len(clear), 'task')} the best is ahead of every other strategy at 95%, "
                  f"elsewhere it cannot be told apart from at least one.")
    parts = []
    for _, row in rows.iterrows():
        task, best, ties = row["dataset"], row["best"], row["indistinguishable"]
        others = [s for s in aucs.loc[aucs["dataset"] == task, "strategy"] if s != best]
        auc = _auc(aucs, task, best)
        if not others:
            parts.append(f"on {task} only {strategy_name(best)} ran ({auc})")
        elif not ties:
            parts.append(f"on {task} {strategy_name(best)} ({auc}), ahead of every other strategy at 95%")
        elif set(ties) >= set(others):
            parts.append(f"on {task} nothing can be told apart: the largest AUC, {strategy_name(best)}'s {auc}, is "
                         f"within noise of every other strategy's")
        else:
            parts.append(f"on {task} {strategy_name(best)} ({auc}), not told apart at 95% from "
                         f"{joined([strategy_name(s) for s in ties])}")
    text = "; ".join(parts)
    return f"Largest Pareto AUC{measured}: {text}."


def _drop(row) -> str:
    return f"{strategy_name(row['strategy'])} {pct(row['drop'])} points {span(row['drop_low'], row['drop_high'])}"


def tradeoff_sentence(verdicts: pd.DataFrame) -> str | None:
    """How many task runs fell significantly from their robustness peak (adjusted for picking it)."""
    runs = verdicts[~verdicts["dataset"].map(is_control)]
    if runs.empty:
        return None
    fell = runs[runs["verdict"] == TRADEOFF]
    if fell.empty:
        top = runs.loc[runs["drop"].idxmax()]
        largest = (f"; the largest drop, {_drop(top)} on {top['dataset']}, is within chance once the peak's choice "
                   f"among the evaluations is allowed for" if top["drop"] > 0 else "")
        return f"None of the {len(runs)} runs on the tasks fell significantly from its robustness peak{largest}."
    listed = joined([f"{_drop(row)} on {row['dataset']}" for _, row in fell.iterrows()])
    return (f"Robust accuracy fell significantly from its peak (trade-off) in {len(fell)} of {len(runs)} runs on the "
            f"tasks: {listed}.")


def controls_sentence(verdicts: pd.DataFrame) -> str | None:
    """Whether the known-answer controls behave as built: a fall in every control+ run, none in control−."""
    positive = verdicts[verdicts["dataset"].str.startswith(POSITIVE)]
    negative = verdicts[verdicts["dataset"].str.startswith(NEGATIVE)]
    if positive.empty and negative.empty:
        return None
    fell_pos = positive[positive["verdict"] == TRADEOFF]
    fell_neg = negative[negative["verdict"] == TRADEOFF]
    as_built = len(fell_pos) == len(positive) and fell_neg.empty
    parts = []
    if len(positive):
        parts.append(f"robust accuracy fell in {len(fell_pos)} of {len(positive)} control+ runs"
                     + (f" ({joined([_drop(r) for _, r in positive.iterrows()])})" if len(positive) else ""))
    if len(negative):
        parts.append(f"in {len(fell_neg)} of {len(negative)} control− runs"
                     + f" ({joined([_drop(r) for _, r in negative.iterrows()])})")
    head = "The controls behave as built" if as_built else "The controls do NOT behave as built"
    return f"{head}: {joined(parts)}."


def strategy_findings(summaries: pd.DataFrame, stability: pd.DataFrame, aucs: pd.DataFrame, verdicts: pd.DataFrame,
                      complexity_text: str | None = None) -> Findings:
    """RQ2's opening from the report's frames: ``summaries`` (``comparison.strategy_runs``), ``stability``
    (``uncertainty.ranking_stability``), ``aucs`` (``uncertainty.auc_intervals`` with the bootstrap),
    ``verdicts`` (``uncertainty.tradeoff_table`` with tasks named), ``complexity_text`` (one sentence)."""
    tasks = summaries[~summaries["dataset"].map(is_control)]
    whats = {measures.robust_what(read_config(Path(p))) for p in tasks["path"]}
    what = whats.pop() if len(whats) == 1 else None
    sentences = [s for s in (ranking_sentence(stability, aucs, what), tradeoff_sentence(verdicts),
                             controls_sentence(verdicts), complexity_text) if s]
    if not sentences:
        sentences = ["Nothing to compare: no finished run here."]
    return Findings(sentences[:5])


__all__ = ["controls_sentence", "is_control", "ranking_sentence", "strategy_findings", "tradeoff_sentence"]
