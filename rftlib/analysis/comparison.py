"""RQ2's comparisons, made comparable: which runs compare strategies, the common set of tasks and strategies
every average is taken over, "% above average" only where the average is told apart from zero, and the
report's tables as readable strings (values with their 95% intervals; no spread where a cell has one run).

- ``strategy_runs``: the runs RQ2 compares (no training domain, no remedy run; controls named
  "control+"/"control−" by ``results.distinguish_datasets``);
- ``common_set``: the strategies of the task with the most of them, and the tasks where all of them ran;
- ``above_average``: % above the strategies' average AUC over the common set, with a bootstrap interval,
  blank where the average AUC is within noise of zero (its interval reaches below half its value, so a
  ratio to it could be anything from about half to twice what it reads);
- ``best_table``, ``verdict_table``, ``spread_heading``: the tables and headings the report shows.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from rftlib import stats
from rftlib.analysis import results
from rftlib.analysis.findings import pct, signed, span
from rftlib.strategies import STRATEGIES

#: The average is "within noise of zero" when its 95% interval's low end is below this share of its value.
NOISE_SHARE = 0.5


def strategy_runs(runs_root, include_unfinished: bool = False, objective: str | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(records, summaries) of the runs RQ2 compares: no training domain (RQ3's), no remedy run (RQ4's, not
    a seed of its strategy), of ``objective`` when given; tasks named by ``results.distinguish_datasets``."""
    from rftlib.analysis.remedies import without_remedies

    records = results.load_records(runs_root, include_unfinished=include_unfinished)
    summaries = results.load_summaries(runs_root, include_unfinished=include_unfinished)
    records, summaries = without_remedies(records, summaries), without_remedies(summaries, summaries)
    records, summaries = records[records["domain"].isna()], summaries[summaries["domain"].isna()]
    if objective is not None:
        records, summaries = records[records["objective"] == objective], summaries[summaries["objective"] == objective]
    if summaries.empty:
        return records, summaries
    records, named = results.distinguish_datasets(records, summaries), results.distinguish_datasets(summaries, summaries)
    if named["model"].nunique() > 1:  # one task per backbone: runs of two backbones are not seeds of one cell
        suffix = named.set_index("run")["model"].map(lambda m: f" · {m}")
        records["dataset"] = records["dataset"] + records["run"].map(suffix)
        named["dataset"] = named["dataset"] + named["run"].map(suffix)
    return records, named


def robust_labels(summaries: pd.DataFrame, task: str = "dataset") -> dict[str, str]:
    """Task -> what its runs' robust accuracy measured ("robust accuracy, worst of PGD-3 and APGD-3, L∞
    1/255"); "robust accuracy (differs between runs)" where the runs of a task measured different things."""
    from pathlib import Path

    from rftlib.runs.measures import robust_label

    labels: dict[str, set[str]] = {}
    for _, run in summaries.iterrows():
        labels.setdefault(run[task], set()).add(robust_label(results.read_config(Path(run["path"]))))
    return {t: found.pop() if len(found) == 1 else "robust accuracy (differs between runs)" for t, found in labels.items()}


def task_order(tasks: Iterable[str]) -> list[str]:
    """Tasks first (as given), then the controls: control+ before control−."""
    tasks = list(dict.fromkeys(tasks))
    rank = lambda t: 2 if str(t).startswith("control−") else 1 if str(t).startswith("control") else 0  # noqa: E731
    return sorted(tasks, key=lambda t: (rank(t), tasks.index(t)))


def ordered(strategies: Iterable[str]) -> list[str]:
    """Strategies in the paper's order, unknown names last."""
    present = list(dict.fromkeys(strategies))
    return [s for s in STRATEGIES if s in present] + [s for s in present if s not in STRATEGIES]


def common_set(summaries: pd.DataFrame, task: str = "dataset") -> tuple[list[str], list[str]]:
    """(tasks, strategies): the strategies run on the task that has the most of them, and every task on which
    all of those ran. Averages over strategies and comparisons across tasks use this set only, so a column
    of 3 strategies is never set beside one of 7."""
    done = summaries.dropna(subset=["pareto_auc"])
    if done.empty:
        return [], []
    per_task = done.groupby(task)["strategy"].agg(lambda s: frozenset(s))
    widest = max(per_task, key=len)
    tasks = sorted(t for t, present in per_task.items() if widest <= present)
    return tasks, ordered(widest)


def spread_heading(summaries: pd.DataFrame, by: Iterable[str] = ("strategy", "dataset")) -> str:
    """How a table's cells summarise their runs: "one run per cell (no spread over seeds)", or "mean ± std
    over 3 seeds", or "mean ± std over 1-3 seeds (one-run cells: the mean alone)"."""
    counts = summaries.dropna(subset=["pareto_auc"]).groupby(list(by)).size()
    if counts.empty or counts.max() == 1:
        return "one run per cell (no spread over seeds)"
    if counts.min() == counts.max():
        return f"mean ± std over {counts.max()} seeds"
    return f"mean ± std over {counts.min()}-{counts.max()} seeds (one-run cells: the mean alone)"


def above_average(boot: pd.DataFrame, summaries: pd.DataFrame, confidence: float = stats.CONFIDENCE,
                  noise_share: float = NOISE_SHARE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """% above the strategies' average Pareto AUC over the common set (``common_set``) with its bootstrap
    interval (``boot``: ``uncertainty.bootstrap_aucs``), and per task the average with its interval.

    Returns (percent: strategy, dataset, percent, low, high; NaN on tasks within noise), (averages: dataset,
    average, low, high, within_noise)."""
    from rftlib.analysis.uncertainty import percent_above_average_intervals

    tasks, strategies = common_set(summaries)
    chosen = summaries[summaries["dataset"].isin(tasks) & summaries["strategy"].isin(strategies)]
    draws = boot[boot["dataset"].isin(tasks) & boot["strategy"].isin(strategies)]
    rows = []
    for task, group in draws.groupby("dataset", sort=True):
        per_replicate = group.groupby("replicate")["auc"].mean()
        average = chosen[chosen["dataset"] == task].groupby("strategy")["pareto_auc"].mean().mean()
        low, high = stats.percentile_interval(per_replicate.to_numpy(), confidence)
        rows.append(dict(dataset=task, average=average, low=low, high=high,
                         within_noise=bool(not average > 0 or low < noise_share * average)))
    averages = pd.DataFrame(rows, columns=["dataset", "average", "low", "high", "within_noise"])
    if chosen.empty:
        return pd.DataFrame(columns=["strategy", "dataset", "percent", "low", "high"]), averages
    percent = percent_above_average_intervals(draws, chosen, confidence=confidence)
    noisy = set(averages.loc[averages["within_noise"], "dataset"])
    percent.loc[percent["dataset"].isin(noisy), ["percent", "low", "high"]] = np.nan
    return percent, averages


def within_noise_text(averages: pd.DataFrame) -> str | None:
    """One sentence naming the tasks whose average is too close to zero for "% above average"."""
    noisy = averages[averages["within_noise"]]
    if noisy.empty:
        return None
    parts = [f"{row['dataset']} ({row['average']:.3f} [{row['low']:.3f}, {row['high']:.3f}])" for _, row in noisy.iterrows()]
    return (f"No \"% above average\" on {', '.join(parts)}: the strategies' average AUC there is within noise of zero "
            f"(its 95% interval reaches below half its value), so a ratio to it says nothing.")


def best_table(stability: pd.DataFrame, aucs: pd.DataFrame) -> pd.DataFrame:
    """Per task: the best strategy, its AUC [95% interval], how often it stays best over the resamples, and
    the strategies that cannot be told apart from it (``uncertainty.ranking_stability``, ``auc_intervals``)."""
    rows = []
    order = task_order(stability["dataset"])
    for _, row in stability.set_index("dataset", drop=False).loc[order].iterrows():
        cell = aucs[(aucs["dataset"] == row["dataset"]) & (aucs["strategy"] == row["best"])].iloc[0]
        others = ordered(row["indistinguishable"])
        rows.append({"task": row["dataset"], "best": row["best"],
                     "Pareto AUC [95%]": f"{cell['mean']:.3f} {span(cell['boot_low'], cell['boot_high'], 3, 1)}",
                     "stays best": f"{100 * row['best_share']:.0f}% of resamples",
                     "cannot be told apart from": ", ".join(others) if others else "none (all below at 95%)"})
    return pd.DataFrame(rows).set_index("task").rename_axis(None) if rows else pd.DataFrame()


def backbone_table(summaries: pd.DataFrame, aucs: pd.DataFrame) -> pd.DataFrame | None:
    """With several backbones (tasks named "dataset · model" by ``strategy_runs``): per dataset and backbone,
    the strategies in order of Pareto AUC, each with its AUC [95% interval]. None with one backbone."""
    if summaries["model"].nunique() < 2:
        return None
    models = summaries.drop_duplicates("dataset").set_index("dataset")["model"]
    rows = []
    for task, group in aucs.groupby("dataset", sort=True):
        ranked = group.sort_values("mean", ascending=False)
        rows.append({"dataset": task.rsplit(" · ", 1)[0], "backbone": models.get(task, ""),
                     "strategies, best first": "; ".join(f"{r['strategy']} {r['mean']:.3f} "
                                                         f"{span(r['boot_low'], r['boot_high'], 3, 1)}"
                                                         for _, r in ranked.iterrows())})
    return pd.DataFrame(rows).set_index(["dataset", "backbone"])


def verdict_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """``uncertainty.tradeoff_table`` as one readable row per run: where robust accuracy peaked, where it
    ended, the drop [95% interval] and the verdict (adjusted for picking the peak)."""
    rows = []
    for _, row in verdicts.iterrows():
        rows.append({"task": row["dataset"], "strategy": row["strategy"], "seed": row["seed"],
                     "peak (step)": f"{pct(row['peak_adv_acc'])}% ({row['peak_step']})",
                     "final (step)": f"{pct(row['final_adv_acc'])}% ({row['final_step']})",
                     "drop, points [95%]": f"{pct(row['drop'])} {span(row['drop_low'], row['drop_high'])}",
                     "clean change [95%]": f"{signed(row['clean_change'])} "
                                           f"{span(row['clean_change_low'], row['clean_change_high'], sign=True)}",
                     "verdict": row["verdict"]})
    return pd.DataFrame(rows).set_index("task").rename_axis(None) if rows else pd.DataFrame()


__all__ = ["NOISE_SHARE", "above_average", "backbone_table", "robust_labels", "task_order", "best_table", "common_set", "ordered", "spread_heading",
           "strategy_runs", "verdict_table", "within_noise_text"]
