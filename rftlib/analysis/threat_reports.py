"""The study's trade-off under any threat model: Pareto AUC, "% above average" and the strategy ranking
for each threat model a sweep actually used (one per records column, norm and radius: runs measured at
other radii are other threat models), and whether the ranking changes between them, with intervals.

A threat model is a robust-accuracy column of the records: ``adv_acc`` (the worst case over the run's
attacks), ``adv_acc_<label>`` (one attack, at its norm and eps) or ``curve_<k>_acc`` (radius k of the
run's robustness curve). Each run's Pareto AUC under it is recomputed from its records (the
evaluations that measured it), and the intervals come from ``rftlib.analysis.uncertainty.bootstrap_aucs`` with
that column, one seed for all columns, so the replicates are paired across threat models: the share of
replicates in which two threat models crown the same best strategy, and Kendall's tau between their
rankings with a percentile interval, say whether the ranking changes.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from rftlib import stats
from rftlib.stats.pareto import pareto_auc


MAIN = "adv_acc@"  # keys of the runs' own robust accuracy (the worst case over their attacks)


def threat_models(summaries: pd.DataFrame) -> pd.DataFrame:
    """The threat models the runs measured, one row per (records column, norm, radius) actually used: runs of
    one column at two radii (the controls' L∞ 4/255 beside the tasks' 1/255) are two rows. Columns: key (a
    name for the row), metric, norm, eps, name (what was measured, ``rftlib.runs.measures``), runs (how many),
    tasks (the datasets), members (the run names)."""
    from rftlib.analysis.results import read_config, read_records
    from rftlib.runs import measures

    found: dict[tuple, dict] = {}
    for _, run in summaries.iterrows():
        config = read_config(Path(run["path"]))
        columns = set().union(*(r.keys() for r in read_records(Path(run["path"]))))
        specs = measures.attack_specs(config)
        metrics = ["adv_acc", *(f"adv_acc_{spec['label']}" for spec in specs if len(specs) > 1)]
        metrics += [f"curve_{k}_acc" for k in range(len((config.get("robustness_curve") or {}).get("radii", [])))]
        for metric in metrics:
            if metric not in columns:
                continue
            norm, eps, _ = measures.threat_of(config, metric, specs)
            name = measures.metric_label(config, metric, specs).removeprefix("robust accuracy, ")
            entry = found.setdefault((metric, norm, None if eps is None else round(float(eps), 10), name), {
                "metric": metric, "norm": norm, "eps": eps, "name": name, "runs": 0, "tasks": [], "members": []})
            entry["runs"] += 1
            entry["members"].append(run["run"])
            if run["dataset"] not in entry["tasks"]:
                entry["tasks"].append(run["dataset"])
    rows = [dict(entry, key=f"{entry['metric']}@{entry['norm']}:{entry['eps']}") for entry in found.values()]
    columns = ["key", "metric", "norm", "eps", "name", "runs", "tasks", "members"]
    return pd.DataFrame(rows, columns=columns)


def under_threat(summaries: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``summaries`` with ``pareto_auc`` recomputed from each run's records with ``metric`` as the robust
    accuracy (NaN for runs that did not measure it)."""
    from rftlib.analysis.results import read_records

    out = summaries.copy()
    aucs = []
    for path in out["path"]:
        points = [(r["clean_acc"], r[metric]) for r in read_records(Path(path))
                  if r.get(metric) is not None and r[metric] == r[metric]]
        aucs.append(pareto_auc(points) if points else np.nan)
    out["pareto_auc"] = aucs
    return out


def threat_auc_table(summaries: pd.DataFrame, metrics: Iterable[str] | None = None, replicates: int = 200,
                     seed: int = 0, by: Iterable[str] = ("strategy", "dataset"),
                     confidence: float = stats.CONFIDENCE) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Per threat model (a row of ``threat_models``; ``metrics`` picks records columns, None: all), strategy
    and task: Pareto AUC (mean over seeds) with its bootstrap interval, and % above average with its interval
    (blank where the strategies' average is within noise of zero, ``comparison.NOISE_SHARE``). Returns the
    long table (columns key, threat, ``by``..., auc, auc_low, auc_high, percent, percent_low, percent_high)
    and the bootstrap replicates per key (for :func:`ranking_changes`)."""
    from rftlib.analysis.comparison import NOISE_SHARE
    from rftlib.analysis.uncertainty import bootstrap_aucs, percent_above_average_intervals

    by = list(by)
    models = threat_models(summaries)
    if metrics is not None:
        models = models[models["metric"].isin(list(metrics))]
    tables, boots = [], {}
    for _, model in models.iterrows():
        members = summaries[summaries["run"].isin(model["members"])]
        threat = under_threat(members, model["metric"]).dropna(subset=["pareto_auc"])
        if threat.empty:
            continue
        boot = boots[model["key"]] = bootstrap_aucs(threat, replicates=replicates, seed=seed, by=by,
                                                   metric=model["metric"])
        means = threat.groupby(by, dropna=False)["pareto_auc"].mean().rename("auc").reset_index()
        spans = pd.DataFrame([dict(zip(by, key)) | dict(zip(("auc_low", "auc_high"),
                                                            stats.percentile_interval(g["auc"], confidence)))
                              for key, g in boot.groupby(by, dropna=False, sort=True)])
        percent = percent_above_average_intervals(boot, threat, by=by, confidence=confidence).rename(
            columns={"low": "percent_low", "high": "percent_high"})
        noisy = []
        for task, draws in boot.groupby(by[1] if len(by) == 2 else by[1:]):
            average = means.loc[means[by[1]] == task, "auc"].mean() if len(by) == 2 else np.nan
            low, _ = stats.percentile_interval(draws.groupby("replicate")["auc"].mean().to_numpy(), confidence)
            if not (average > 0 and low >= NOISE_SHARE * average):
                noisy.append(task)
        percent.loc[percent[by[1]].isin(noisy), ["percent", "percent_low", "percent_high"]] = np.nan
        table = means.merge(spans, on=by, how="left").merge(percent, on=by, how="left")
        table.insert(0, "threat", model["name"])
        table.insert(0, "key", model["key"])
        tables.append(table)
    columns = ["key", "threat", *by, "auc", "auc_low", "auc_high", "percent", "percent_low", "percent_high"]
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)), boots


def auc_by_threat(table: pd.DataFrame, by: Iterable[str] = ("strategy", "dataset")) -> pd.DataFrame:
    """``threat_auc_table``'s table as one readable grid per task: rows (task, strategy), a column per threat
    model, cells "AUC [95% interval]"."""
    by = list(by)
    text = table.assign(cell=[f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in
                              zip(table["auc"], table["auc_low"], table["auc_high"])])
    wide = text.pivot(index=[by[1], by[0]], columns="threat", values="cell")
    order = list(dict.fromkeys(table["threat"]))
    return wide[[t for t in order if t in wide.columns]].fillna("").rename_axis(index=["task", "strategy"], columns=None)


def ranking_changes(table: pd.DataFrame, boots: dict[str, pd.DataFrame], by: Iterable[str] = ("strategy", "dataset"),
                    confidence: float = stats.CONFIDENCE, main_only: bool = False) -> pd.DataFrame:
    """For each task and pair of threat models: the best strategy under each, the share of (paired)
    bootstrap replicates in which both crown the same one, and Kendall's tau between the two rankings
    with its percentile interval over the replicates. ``changes`` is True when the best strategies
    differ and the tau interval excludes 1 (the rankings disagree beyond resampling noise)."""
    from scipy.stats import kendalltau

    by = list(by)
    rows = []
    for first, second in itertools.combinations(list(boots), 2):
        if main_only and not (first.startswith(MAIN) or second.startswith(MAIN)):
            continue  # each threat model against the runs' own robust accuracy, not every pair
        for task, group in table[table["key"].isin([first, second])].groupby(by[1:], dropna=False, sort=True):
            task = task if isinstance(task, tuple) else (task,)
            a = group[group["key"] == first].set_index(by[0])["auc"]
            b = group[group["key"] == second].set_index(by[0])["auc"]
            shared = sorted(set(a.index) & set(b.index))
            if len(shared) < 2:
                continue
            wide = [_replicates(boots[m], by, task, shared) for m in (first, second)]
            taus = np.array([kendalltau(x, y)[0] for x, y in zip(wide[0], wide[1])], dtype=float)
            same_best = float(np.mean(wide[0].argmax(1) == wide[1].argmax(1)))
            tau = float(kendalltau(a[shared], b[shared])[0])
            low, high = stats.percentile_interval(taus, confidence)
            best_a, best_b = str(a[shared].idxmax()), str(b[shared].idxmax())
            rows.append(dict(zip(by[1:], task)) | dict(
                first=group.loc[group["key"] == first, "threat"].iloc[0],
                second=group.loc[group["key"] == second, "threat"].iloc[0], best_first=best_a,
                best_second=best_b, same_best_share=same_best, tau=tau, tau_low=low, tau_high=high,
                changes=bool(best_a != best_b and high < 1)))
    return pd.DataFrame(rows, columns=[*by[1:], "first", "second", "best_first", "best_second", "same_best_share",
                                       "tau", "tau_low", "tau_high", "changes"])


def _replicates(boot: pd.DataFrame, by: list[str], task: tuple, strategies: list[str]) -> np.ndarray:
    """(replicates, strategies) AUCs of one task."""
    mask = np.logical_and.reduce([boot[column] == value for column, value in zip(by[1:], task)])
    return boot[mask].pivot(index="replicate", columns=by[0], values="auc")[strategies].to_numpy()


def auc_by_threat_per_task(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``auc_by_threat`` split by task, each keeping only the threat models measured on it."""
    wide = auc_by_threat(table)
    from rftlib.analysis.comparison import task_order

    grids = {}
    for task in task_order(wide.index.get_level_values("task")):
        grid = wide.loc[task]
        grids[task] = grid.loc[:, (grid != "").any()].rename_axis(None)
    return grids


def ranking_change_table(changes: pd.DataFrame, task_column: str = "dataset") -> pd.DataFrame:
    """One readable row per task and pair of threat models: the best strategy under each, how often the
    paired resamples agree on it, Kendall's tau [95%], and whether the ranking changes."""
    rows = []
    for _, row in changes.iterrows():
        verdict = ("changes" if row["changes"] else
                   "best differs within noise" if row["best_first"] != row["best_second"] else "same best")
        rows.append({"task": row[task_column], "threat model A": row["first"], "threat model B": row["second"],
                     "best (A / B)": f"{row['best_first']} / {row['best_second']}",
                     "same best": f"{100 * row['same_best_share']:.0f}%",
                     "Kendall tau [95%]": f"{row['tau']:.2f} [{row['tau_low']:.2f}, {row['tau_high']:.2f}]",
                     "ranking": verdict})
    return pd.DataFrame(rows).set_index("task").rename_axis(None) if rows else pd.DataFrame()


def ranking_change_text(changes: pd.DataFrame) -> str:
    """One sentence: over how many (task, pair of threat models) the ranking changes beyond resampling noise."""
    if changes.empty:
        return "No task was measured under two threat models with two strategies or more: nothing to compare."
    changed = changes[changes["changes"]]
    differ = changes[~changes["changes"] & (changes["best_first"] != changes["best_second"])]
    head = (f"The ranking of the strategies changes beyond resampling noise in {len(changed)} of {len(changes)} "
            f"comparisons of two threat models on one task")
    if len(differ):
        head += f"; in {len(differ)} more the best strategy differs, but within noise"
    return head + "."


__all__ = ["auc_by_threat", "auc_by_threat_per_task", "ranking_change_table", "ranking_change_text", "ranking_changes", "threat_auc_table",
           "threat_models", "under_threat"]
