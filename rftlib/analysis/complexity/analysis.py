"""RQ2 read against task complexity: each strategy's AUC per task beside the task's measures, and the
rank correlation between complexity and which strategy wins, with a seeded bootstrap interval.

The paper explains its RQ2 finding (BitFit has the best trade-off on simple tasks, Compacter on complex
ones) by task complexity without measuring it. Here "which strategy wins" is the AUC of BitFit minus
that of Compacter on each task (and, for every strategy, its AUC in % above the strategies' average).
The explanation predicts that BitFit's advantage grows with each "simpler when higher" measure (LogME,
F1, probe accuracy, LEEP: a positive Spearman correlation) and shrinks with the Fréchet distance to the
upstream data (negative).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from rftlib.core.errors import RftError
from rftlib.analysis.complexity.measure import MEASURES

PAPER_PAIR = ("bitfit", "compacter")  # (wins on simple tasks, wins on complex ones), per the paper
PAIR_TARGET = f"{PAPER_PAIR[0]} - {PAPER_PAIR[1]} AUC"
MIN_TASKS = 4  # below this a rank correlation and its bootstrap say nothing


def auc_by_task(joined: pd.DataFrame, value: str = "pareto_auc") -> pd.DataFrame:
    """One row per (task, strategy) of the finished runs in ``joined`` (``join_summaries``' frame): the
    mean, standard deviation and number of seeds of ``value``, and the task's measures and intervals."""
    needed = ["task", "strategy", "done", value, *MEASURES]
    missing = [c for c in needed if c not in joined.columns]
    if missing:
        raise RftError(f"auc_by_task needs the frame of complexity.join_summaries; it lacks {', '.join(missing)}")
    finished = joined[joined["done"]].dropna(subset=[value])
    stats = finished.groupby(["task", "strategy"])[value].agg(mean="mean", std="std", n="count").reset_index()
    measure_columns = [c for c in joined.columns if c.split("_low")[0].split("_high")[0] in MEASURES]
    per_task = finished.groupby("task")[measure_columns].first().reset_index()
    return stats.merge(per_task, on="task", how="left")


def _targets(per_task: pd.DataFrame) -> dict[str, pd.Series]:
    """Per task: BitFit's AUC minus Compacter's, and each strategy's AUC in % above the average."""
    wide = per_task.pivot(index="task", columns="strategy", values="mean")
    targets = {}
    if all(s in wide.columns for s in PAPER_PAIR):
        targets[PAIR_TARGET] = wide[PAPER_PAIR[0]] - wide[PAPER_PAIR[1]]
    average = wide.mean(axis=1)
    for strategy in wide.columns:
        targets[f"{strategy} % above average"] = 100 * (wide[strategy] / average - 1)
    return targets


def winner_correlation(joined: pd.DataFrame, seed: int = 0, resamples: int = 2000,
                       value: str = "pareto_auc") -> pd.DataFrame:
    """Spearman's rank correlation across tasks between each measure and each target (``_targets``),
    with a 95% percentile interval from ``resamples`` bootstrap resamples of the tasks (seeded; a
    resample with a constant column has no correlation and is dropped). Columns: measure, target,
    n_tasks, rho, low, high, expected (the sign the paper's explanation predicts, for the pair)."""
    from scipy.stats import spearmanr

    per_task = auc_by_task(joined, value)
    measures = per_task.groupby("task")[list(MEASURES)].first()
    rng = np.random.default_rng(seed)
    rows = []
    for target_name, target in _targets(per_task).items():
        for measure, (direction, _) in MEASURES.items():
            pair = pd.concat([measures[measure], target], axis=1, keys=["x", "y"]).dropna()
            n = len(pair)
            rho = low = high = np.nan
            if n >= 3 and pair["x"].nunique() > 1 and pair["y"].nunique() > 1:
                rho = spearmanr(pair["x"], pair["y"]).statistic
            if n >= MIN_TASKS and np.isfinite(rho):
                draws = []
                x, y = pair["x"].to_numpy(), pair["y"].to_numpy()
                for _ in range(resamples):
                    idx = rng.integers(0, n, n)
                    if len(np.unique(x[idx])) > 1 and len(np.unique(y[idx])) > 1:
                        draws.append(spearmanr(x[idx], y[idx]).statistic)
                if draws:
                    low, high = np.percentile(draws, [2.5, 97.5])
            rows.append(dict(measure=measure, target=target_name, n_tasks=n, rho=rho, low=low, high=high,
                             expected=direction if target_name == PAIR_TARGET else np.nan))
    return pd.DataFrame(rows, columns=["measure", "target", "n_tasks", "rho", "low", "high", "expected"])


def paper_reading(correlations: pd.DataFrame) -> str:
    """One line: does the paper's explanation hold on these tasks, per the BitFit - Compacter rows of
    ``winner_correlation``? A measure supports it when its interval excludes 0 on the predicted side."""
    claim = "The paper's explanation (BitFit wins on simple tasks, Compacter on complex ones)"
    rows = correlations[correlations["target"] == PAIR_TARGET]
    if rows.empty:
        return f"{claim} cannot be read here: the runs lack {PAPER_PAIR[0]} or {PAPER_PAIR[1]}."
    tasks = int(rows["n_tasks"].max())
    if tasks < MIN_TASKS:
        return (f"{claim} cannot be read on {tasks} task(s) with measures: a rank correlation needs at least "
                f"{MIN_TASKS}; add tasks of other complexity.")
    decided = rows.dropna(subset=["low", "high"])
    support = decided[((decided["expected"] > 0) & (decided["low"] > 0)) | ((decided["expected"] < 0) & (decided["high"] < 0))]
    against = decided[((decided["expected"] > 0) & (decided["high"] < 0)) | ((decided["expected"] < 0) & (decided["low"] > 0))]
    names = lambda frame: ", ".join(frame["measure"])  # noqa: E731
    if len(support) and not len(against):
        verdict = f"holds on these {tasks} tasks (95% intervals on the predicted side: {names(support)})"
    elif len(against) and not len(support):
        verdict = f"is contradicted on these {tasks} tasks (95% intervals on the opposite side: {names(against)})"
    elif len(support):
        verdict = f"gets mixed evidence on {tasks} tasks (for: {names(support)}; against: {names(against)})"
    else:
        verdict = (f"is neither supported nor contradicted on these {tasks} tasks: every 95% interval of the "
                   f"rank correlation includes 0")
    return f"{claim} {verdict}."
