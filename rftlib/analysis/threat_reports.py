"""The study's trade-off under any threat model: Pareto AUC, "% above average" and the strategy ranking
for each (norm, eps) a sweep measured, and whether the ranking changes between them, with intervals.

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


def threat_models(summaries: pd.DataFrame) -> pd.DataFrame:
    """The threat models the runs measured: one row per records column, with its norm and eps (one of
    each over the runs, else the first seen) and a readable name. Columns: metric, norm, eps, name, runs."""
    from rftlib.runs.config import RunConfig
    from rftlib.analysis.results import read_config, read_records

    found: dict[str, dict] = {}
    for path in summaries["path"]:
        config = RunConfig.from_dict(read_config(Path(path)))
        columns = set().union(*(r.keys() for r in read_records(Path(path))))
        specs = config.attack_specs()
        described = {"adv_acc": (specs[0].get("norm", "Linf"), specs[0].get("eps"),
                                 "worst case" if len(specs) > 1 else specs[0]["label"])}
        for spec in specs:
            described[f"adv_acc_{spec['label']}"] = (spec.get("norm", "Linf"), spec.get("eps"), spec["label"])
        curve = config.robustness_curve or {}
        for k, radius in enumerate(curve.get("radii", [])):
            described[f"curve_{k}_acc"] = (curve.get("norm", "Linf"), radius, "curve")
        for metric, (norm, eps, what) in described.items():
            if metric in columns:
                entry = found.setdefault(metric, {"metric": metric, "norm": norm, "eps": eps, "what": what, "runs": 0})
                entry["runs"] += 1
    rows = [dict(entry, name=f"{entry['norm']} eps {entry['eps']:.4g} ({entry['what']})"
                 if entry["eps"] is not None else entry["what"]) for entry in found.values()]
    return pd.DataFrame(rows, columns=["metric", "norm", "eps", "what", "name", "runs"])


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
    """Per threat model, strategy and task: Pareto AUC (mean over seeds) with its bootstrap interval, and
    % above average with its interval. Returns the long table (columns metric, threat, ``by``..., auc,
    auc_low, auc_high, percent, percent_low, percent_high) and the bootstrap replicates per metric (for
    :func:`ranking_changes`)."""
    from rftlib.analysis.uncertainty import bootstrap_aucs, percent_above_average_intervals

    by = list(by)
    models = threat_models(summaries)
    chosen = list(models["metric"]) if metrics is None else list(metrics)
    names = dict(zip(models["metric"], models["name"]))
    tables, boots = [], {}
    for metric in chosen:
        threat = under_threat(summaries, metric).dropna(subset=["pareto_auc"])
        if threat.empty:
            continue
        boot = boots[metric] = bootstrap_aucs(threat, replicates=replicates, seed=seed, by=by, metric=metric)
        means = threat.groupby(by, dropna=False)["pareto_auc"].mean().rename("auc").reset_index()
        spans = pd.DataFrame([dict(zip(by, key)) | dict(zip(("auc_low", "auc_high"),
                                                            stats.percentile_interval(g["auc"], confidence)))
                              for key, g in boot.groupby(by, dropna=False, sort=True)])
        percent = percent_above_average_intervals(boot, threat, by=by, confidence=confidence).rename(
            columns={"low": "percent_low", "high": "percent_high"})
        table = means.merge(spans, on=by, how="left").merge(percent, on=by, how="left")
        table.insert(0, "threat", names.get(metric, metric))
        table.insert(0, "metric", metric)
        tables.append(table)
    columns = ["metric", "threat", *by, "auc", "auc_low", "auc_high", "percent", "percent_low", "percent_high"]
    return (pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)), boots


def ranking_changes(table: pd.DataFrame, boots: dict[str, pd.DataFrame], by: Iterable[str] = ("strategy", "dataset"),
                    confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """For each task and pair of threat models: the best strategy under each, the share of (paired)
    bootstrap replicates in which both crown the same one, and Kendall's tau between the two rankings
    with its percentile interval over the replicates. ``changes`` is True when the best strategies
    differ and the tau interval excludes 1 (the rankings disagree beyond resampling noise)."""
    from scipy.stats import kendalltau

    by = list(by)
    rows = []
    for first, second in itertools.combinations(list(boots), 2):
        for task, group in table[table["metric"].isin([first, second])].groupby(by[1:], dropna=False, sort=True):
            task = task if isinstance(task, tuple) else (task,)
            a = group[group["metric"] == first].set_index(by[0])["auc"]
            b = group[group["metric"] == second].set_index(by[0])["auc"]
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
                first=group.loc[group["metric"] == first, "threat"].iloc[0],
                second=group.loc[group["metric"] == second, "threat"].iloc[0], best_first=best_a,
                best_second=best_b, same_best_share=same_best, tau=tau, tau_low=low, tau_high=high,
                changes=bool(best_a != best_b and high < 1)))
    return pd.DataFrame(rows, columns=[*by[1:], "first", "second", "best_first", "best_second", "same_best_share",
                                       "tau", "tau_low", "tau_high", "changes"])


def _replicates(boot: pd.DataFrame, by: list[str], task: tuple, strategies: list[str]) -> np.ndarray:
    """(replicates, strategies) AUCs of one task."""
    mask = np.logical_and.reduce([boot[column] == value for column, value in zip(by[1:], task)])
    return boot[mask].pivot(index="replicate", columns=by[0], values="auc")[strategies].to_numpy()


def ranking_change_text(changes: pd.DataFrame, task_column: str = "dataset") -> str:
    """Sentences for a report: per task and pair of threat models, whether the ranking changes."""
    if changes.empty:
        return "Only one threat model was measured: nothing to compare."
    lines = []
    for _, row in changes.iterrows():
        verdict = ("the ranking changes" if row["changes"] else
                   "the best strategy differs, but not beyond resampling noise" if row["best_first"] != row["best_second"]
                   else "the same strategy is best")
        lines.append(f"{row[task_column]}: {row['first']} vs {row['second']}: {verdict} (best {row['best_first']} vs "
                     f"{row['best_second']}; same best in {100 * row['same_best_share']:.0f}% of paired resamples; "
                     f"Kendall tau {row['tau']:.2f}, 95% [{row['tau_low']:.2f}, {row['tau_high']:.2f}]).")
    return "\n".join(lines)


__all__ = ["ranking_change_text", "ranking_changes", "threat_auc_table", "threat_models", "under_threat"]
