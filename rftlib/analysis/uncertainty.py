"""Error bars on the study's results: per-run trade-off verdicts, per-evaluation intervals, Pareto AUC
over seeds, % above average and ranking stability (interval methods in ``rftlib.stats``).

Every accuracy is measured on a fixed evaluation subset of n points. Where a run kept its per-sample
outcomes (``<run_dir>/outcomes/``, read by ``rftlib.runs.outcomes.read_outcomes``), intervals are exact
and paired; runs written without them (older runs) fall back to their counts, k = accuracy * n with
n the run's ``eval_size``, and the paired intervals ignore the correlation between steps
(conservative: wider). Accuracies other than clean and robust (OOD, extra sets) have their own n.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rftlib import stats
from rftlib.core.errors import RftError
from rftlib.runs.outcomes import read_outcomes
from rftlib.stats.pareto import pareto_auc

TRADEOFF, NONE, UNKNOWN = "trade-off", "none", "unknown"
TIE = 1e-12  # AUCs this close are equal (the same Pareto points)


# ---- one run ------------------------------------------------------------------------------------

def outcome_key(metric: str) -> str | None:
    """The outcomes key behind a record's accuracy field: clean_acc -> clean, adv_acc -> robust,
    adv_acc_<label> -> robust_<label>, ood_acc -> ood, <name>_acc -> <name>; None for train_acc
    and fields that are no evaluation accuracy."""
    if metric == "adv_acc":
        return "robust"
    if metric.startswith("adv_acc_"):
        return "robust_" + metric.removeprefix("adv_acc_")
    if metric.endswith("_acc") and metric != "train_acc":
        return metric.removesuffix("_acc")
    return None


def evaluation_size(config: Mapping[str, Any], outcomes: Mapping[int, Mapping[str, np.ndarray]] | None = None,
                    key: str = "clean") -> int | None:
    """Points behind the accuracy of outcomes ``key`` (clean and every attack share the test subset;
    OOD and extra sets have their own): the outcomes' length where kept, else the configured
    ``eval_size`` (the subset has that many points when the split is at least as large); None when
    neither says ("all" without outcomes)."""
    for per_step in (outcomes or {}).values():
        if key in per_step:
            return int(len(per_step[key]))
    size = config.get("eval_size")
    return int(size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else None


def tradeoff_summary(records: Any, outcomes: Mapping[int, Mapping[str, np.ndarray]] | None = None,
                     n: int | None = None, confidence: float = stats.CONFIDENCE) -> dict[str, Any]:
    """Whether a run's robust accuracy fell from its peak, with a paired interval.

    ``records``: the run's evaluations (list of dicts or a frame with step, clean_acc, adv_acc).
    ``outcomes``: its per-sample outcomes {step: {"clean": bool array, "robust": ..., ...}}; without
    them ``n`` (the evaluation subset's size) gives intervals from the counts.

    Returns peak_step and peak_adv_acc (the most robust evaluation, the first of equals),
    final_step and final_adv_acc, drop = peak - final with drop_low / drop_high (a ``confidence``
    interval, paired on the same points), clean_change = final - peak clean accuracy with its
    interval, method ("paired outcomes" or "counts"), and verdict: "trade-off" when the drop is
    significant, "none" when not, "unknown" without outcomes or n. The peak is picked among the m - 1
    evaluations before the last, so the verdict uses a Bonferroni-adjusted interval (level
    1 - (1 - confidence) / (m - 1), ``drop_low_adjusted``): picking the highest of several noisy
    readings must not by itself make a drop significant.
    """
    frame = pd.DataFrame(records)
    if frame.empty or not {"step", "clean_acc", "adv_acc"} <= set(frame.columns):
        raise RftError("tradeoff_summary needs records with step, clean_acc and adv_acc")
    frame = frame.sort_values("step", kind="stable").reset_index(drop=True)
    peak, final = frame.loc[frame["adv_acc"].idxmax()], frame.iloc[-1]
    peak_step, final_step = int(peak["step"]), int(final["step"])
    earlier = max(1, len(frame) - 1)
    adjusted = 1 - (1 - confidence) / earlier
    summary = dict(peak_step=peak_step, peak_adv_acc=float(peak["adv_acc"]), final_step=final_step,
                   final_adv_acc=float(final["adv_acc"]), drop=float(peak["adv_acc"] - final["adv_acc"]),
                   clean_change=float(final["clean_acc"] - peak["clean_acc"]), n=n, confidence=confidence)

    def interval(key: str, first_step: int, second_step: int, level: float) -> tuple[float, float, float]:
        a, b = outcomes[first_step][key], outcomes[second_step][key]
        return stats.paired_difference_interval(a, b, level)

    def from_counts(field: str, first: pd.Series, second: pd.Series, level: float) -> tuple[float, float, float]:
        return stats.difference_interval_from_counts(round(first[field] * n), round(second[field] * n), n, level)

    paired = bool(outcomes) and peak_step in outcomes and final_step in outcomes
    if paired:
        summary["n"] = len(outcomes[final_step]["robust"])
        drop = interval("robust", peak_step, final_step, confidence)
        drop_adjusted = interval("robust", peak_step, final_step, adjusted)
        clean = interval("clean", final_step, peak_step, confidence)
        method = "paired outcomes"
    elif n:
        drop = from_counts("adv_acc", peak, final, confidence)
        drop_adjusted = from_counts("adv_acc", peak, final, adjusted)
        clean = from_counts("clean_acc", final, peak, confidence)
        method = "counts"
    else:
        nan = (math.nan,) * 3
        drop = drop_adjusted = clean = nan
        method = None
    summary.update(drop_low=drop[1], drop_high=drop[2], drop_low_adjusted=drop_adjusted[1],
                   clean_change_low=clean[1], clean_change_high=clean[2], method=method)
    if method is None:
        summary["verdict"] = UNKNOWN
    else:
        summary["verdict"] = TRADEOFF if peak_step != final_step and drop_adjusted[1] > 0 else NONE
    return summary


def verdict_text(summary: Mapping[str, Any]) -> str:
    """One sentence stating a run's verdict with its numbers."""
    pct = lambda x: f"{100 * x:.1f}"  # noqa: E731
    head = (f"Robust accuracy peaked at {pct(summary['peak_adv_acc'])}% (step {summary['peak_step']}) and ended at "
            f"{pct(summary['final_adv_acc'])}% (step {summary['final_step']}): a drop of {pct(summary['drop'])} points")
    if summary["verdict"] == UNKNOWN:
        return head + "; no interval (neither per-sample outcomes nor the evaluation size are known)."
    level = f"{100 * summary['confidence']:.0f}%"
    interval = f"[{pct(summary['drop_low'])}, {pct(summary['drop_high'])}]"
    source = "paired per-sample outcomes" if summary["method"] == "paired outcomes" else "counts only"
    if summary["verdict"] == TRADEOFF:
        tail = f"significant at {level}, adjusted for picking the peak"
    else:
        tail = f"not significant at {level}, adjusted for picking the peak"
    return (f"{head}, {level} interval {interval} from {source} on n = {summary['n']}; "
            f"verdict: {summary['verdict']} ({tail}).")


# ---- many runs ----------------------------------------------------------------------------------

def run_evaluations(run_dir: str | Path) -> tuple[list[dict], dict, int | None]:
    """A run's records, per-sample outcomes ({} without them) and evaluation size."""
    from rftlib.analysis.results import read_config, read_records

    config = read_config(Path(run_dir))
    outcomes = read_outcomes(run_dir)
    return read_records(Path(run_dir)), outcomes, evaluation_size(config, outcomes)


def tradeoff_table(summaries: pd.DataFrame, confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """``tradeoff_summary`` of every run in ``summaries`` (``results.load_summaries``), one row each,
    beside the run's identity columns."""
    rows = []
    for _, run in summaries.iterrows():
        records, outcomes, n = run_evaluations(run["path"])
        if not records:
            continue
        rows.append({k: run[k] for k in ("run", "strategy", "dataset", "domain", "seed", "done")}
                    | tradeoff_summary(records, outcomes, n, confidence))
    return pd.DataFrame(rows)


def accuracy_intervals(records: Any, sizes: Mapping[str, Any] | Any, confidence: float = stats.CONFIDENCE
                       ) -> pd.DataFrame:
    """``records`` as a frame with a Wilson interval ``<metric>_low`` / ``<metric>_high`` for every
    evaluation accuracy present (clean_acc, adv_acc, adv_acc_<label>, ood_acc, <name>_acc). ``sizes``:
    the points behind each, {outcomes key: n} (see ``outcome_key``; a value may be one n per row), or
    one n for all. NaN where n is unknown or the metric missing."""
    frame = pd.DataFrame(records).copy()
    for metric in [c for c in frame.columns if outcome_key(c) is not None]:
        key = outcome_key(metric)
        n = sizes.get(key, sizes.get("clean")) if isinstance(sizes, Mapping) else sizes
        size = pd.to_numeric(pd.Series(n, index=frame.index), errors="coerce").to_numpy(dtype=float)
        acc = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
        known = np.isfinite(acc) & np.isfinite(size)
        low, high = np.full(len(frame), np.nan), np.full(len(frame), np.nan)
        if known.any():
            low[known], high[known] = stats.wilson_interval(np.round(acc[known] * size[known]), size[known], confidence)
        frame[f"{metric}_low"], frame[f"{metric}_high"] = low, high
    return frame


def run_sizes(config: Mapping[str, Any], outcomes: Mapping[int, Mapping[str, np.ndarray]]) -> dict[str, int | None]:
    """{outcomes key: points} of a run: every key its outcomes hold, else clean and ood from eval_size."""
    keys = {k for per_step in outcomes.values() for k in per_step} or {"clean", "ood"}
    return {k: evaluation_size(config, outcomes, k) for k in keys}


def with_intervals(records: pd.DataFrame, summaries: pd.DataFrame, confidence: float = stats.CONFIDENCE
                   ) -> pd.DataFrame:
    """``accuracy_intervals`` of many runs' records (``results.load_records``), each run's sizes read
    from its directory (``summaries``: ``results.load_summaries``)."""
    from rftlib.analysis.results import read_config

    per_run = {run["run"]: run_sizes(read_config(Path(run["path"])), read_outcomes(run["path"]))
               for _, run in summaries.iterrows()}
    keys = {k for sizes in per_run.values() for k in sizes}
    sizes = {k: records["run"].map(lambda run, k=k: per_run.get(run, {}).get(k)) for k in keys}
    return accuracy_intervals(records, sizes, confidence)


def run_tradeoff(run_dir: str | Path, confidence: float = stats.CONFIDENCE) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One run's records with per-evaluation intervals, and its ``tradeoff_summary``."""
    from rftlib.analysis.results import read_config

    records, outcomes, n = run_evaluations(run_dir)
    if not records:
        raise RftError(f"{run_dir} has no evaluations yet")
    sizes = run_sizes(read_config(Path(run_dir)), outcomes)
    return accuracy_intervals(records, sizes, confidence), tradeoff_summary(records, outcomes, n, confidence)


def auc_intervals(summaries: pd.DataFrame, boot: pd.DataFrame | None = None,
                  by: Iterable[str] = ("strategy", "dataset"), value: str = "pareto_auc",
                  confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """Mean of ``value`` over the runs (seeds) of each group with a Student-t interval over seeds:
    columns ``by``..., mean, low, high, n (low and high NaN for a single run). With ``boot``
    (``bootstrap_aucs``), also boot_low and boot_high: the percentile interval of the replicates,
    which resample evaluation points as well as seeds and so exist for a single seed too."""
    by = list(by)
    rows = []
    for key, group in summaries.dropna(subset=[value]).groupby(by, dropna=False, sort=True):
        mean, low, high, n = stats.mean_interval(group[value], confidence)
        rows.append(dict(zip(by, key if isinstance(key, tuple) else (key,))) | dict(mean=mean, low=low, high=high, n=n))
    table = pd.DataFrame(rows, columns=by + ["mean", "low", "high", "n"])
    if boot is not None:
        spans = [dict(zip(by, key)) | dict(zip(("boot_low", "boot_high"), stats.percentile_interval(g["auc"], confidence)))
                 for key, g in boot.groupby(by, dropna=False, sort=True)]
        table = table.merge(pd.DataFrame(spans, columns=by + ["boot_low", "boot_high"]), on=by, how="left")
    return table


# ---- bootstrap over seeds and evaluation points -----------------------------------------------------

def _run_curves(run_dir: str | Path, records: list[dict], outcomes: Mapping, n: int | None, metric: str = "adv_acc"
                ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, None]:
    """(steps x n) boolean clean and robust outcomes when kept, else the (steps, 2) accuracies; robust
    is ``metric``'s (another attack's, or a robustness curve's radius, ``rftlib.analysis.threat_reports``), at
    the evaluations that measured it."""
    records = [r for r in records if r.get(metric) is not None and r.get(metric) == r.get(metric)]
    steps = sorted(r["step"] for r in records)
    key = outcome_key(metric)
    if outcomes and all(s in outcomes and key in outcomes[s] for s in steps):
        return (np.stack([outcomes[s]["clean"] for s in steps]).astype(bool),
                np.stack([outcomes[s][key] for s in steps]).astype(bool))
    ordered = sorted(records, key=lambda r: r["step"])
    return np.array([[r["clean_acc"], r[metric]] for r in ordered], dtype=float), None


def _aucs(clean: np.ndarray, robust: np.ndarray) -> np.ndarray:
    """Pareto AUC per replicate of (replicates, steps) clean and robust accuracies."""
    return np.array([pareto_auc(np.stack([c, r], axis=1)) for c, r in zip(clean, robust)])


def bootstrap_aucs(summaries: pd.DataFrame, replicates: int = 1000, seed: int = 0,
                   by: Iterable[str] = ("strategy", "dataset"), metric: str = "adv_acc") -> pd.DataFrame:
    """Pareto AUC per group of ``by`` (mean over its runs) in ``replicates`` bootstrap replicates,
    resampling seeds and evaluation points; deterministic given ``seed``.

    In each replicate and task (``by[1:]``), the seeds are drawn with replacement, the same draw for
    every strategy (runs with one seed share their evaluation subset and data split), and within a
    run the evaluation points are drawn with replacement, the same points at every step and, for runs
    of the same task and seed with per-sample outcomes, for every strategy (paired). A run without
    outcomes is resampled from its counts: each accuracy ~ Binomial(n, acc) / n, independently per
    step (no pairing is known). Returns a long frame: ``by``..., replicate, auc. ``metric``: the robust
    accuracy of the Pareto points (default the run's worst case ``adv_acc``; ``adv_acc_<label>`` or a
    curve's ``curve_<k>_acc`` for another threat model). The resamples depend on the runs' shapes only,
    so two metrics bootstrapped with the same seed are paired replicate by replicate.
    """
    by = list(by)
    rng = stats.bootstrap_rng(seed)
    if replicates < 1:
        raise RftError(f"replicates must be at least 1, got {replicates}")
    done = summaries.dropna(subset=["pareto_auc"])
    rows = []
    task_keys = by[1:]
    groups = done.groupby(task_keys, dropna=False, sort=True) if task_keys else [((), done)]
    for task, runs in groups:
        task = task if isinstance(task, tuple) else (task,)
        seeds = sorted(runs["seed"].unique())
        seed_draws = rng.integers(0, len(seeds), size=(replicates, len(seeds)))
        curves, point_draws = {}, {}
        for _, run in runs.iterrows():
            records, outcomes, n = run_evaluations(run["path"])
            curves[(run["strategy"], run["seed"])] = (_run_curves(run["path"], records, outcomes, n, metric), n)
        per_run_auc = {}
        for (strategy, run_seed), ((first, second), n) in curves.items():
            if second is not None:  # per-sample outcomes: resample points, shared by runs of this seed and size
                size = first.shape[1]
                if (run_seed, size) not in point_draws:
                    point_draws[(run_seed, size)] = stats.resample_indices(rng, size, replicates)
                idx = point_draws[(run_seed, size)]
                clean = first[:, idx].mean(axis=2).T  # (replicates, steps)
                robust = second[:, idx].mean(axis=2).T
            elif n:
                clean = rng.binomial(n, first[:, 0], size=(replicates, len(first))) / n
                robust = rng.binomial(n, first[:, 1], size=(replicates, len(first))) / n
            else:
                warnings.warn(f"run of {strategy} seed {run_seed} has neither outcomes nor a known eval size; "
                              "its AUC is held fixed in the bootstrap", stacklevel=2)
                clean = np.broadcast_to(first[:, 0], (replicates, len(first)))
                robust = np.broadcast_to(first[:, 1], (replicates, len(first)))
            per_run_auc[(strategy, run_seed)] = _aucs(clean, robust)
        for strategy in sorted(runs[by[0]].unique()):
            table = np.full((replicates, len(seeds)), np.nan)
            for j, s in enumerate(seeds):
                if (strategy, s) in per_run_auc:
                    table[:, j] = per_run_auc[(strategy, s)]
            drawn = np.take_along_axis(table, seed_draws, axis=1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN draws: a strategy missing a seed
                means = np.nanmean(drawn, axis=1)
            for replicate, auc in enumerate(means):
                rows.append(dict(zip(by, (strategy, *task))) | {"replicate": replicate, "auc": auc})
    return pd.DataFrame(rows, columns=by + ["replicate", "auc"])


def percent_above_average_intervals(boot: pd.DataFrame, summaries: pd.DataFrame,
                                    by: Iterable[str] = ("strategy", "dataset"),
                                    confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """Each strategy's % above the strategies' average AUC (point estimate from the runs' means, as
    ``pareto.percent_above_average``) with a bootstrap percentile interval from ``boot``
    (``bootstrap_aucs``): columns ``by``..., percent, low, high."""
    by = list(by)
    means = summaries.dropna(subset=["pareto_auc"]).groupby(by, dropna=False)["pareto_auc"].mean().reset_index()
    means["percent"] = 100 * (means["pareto_auc"] / means.groupby(by[1:], dropna=False)["pareto_auc"].transform("mean") - 1)
    relative = boot.copy()
    average = relative.groupby(by[1:] + ["replicate"], dropna=False)["auc"].transform("mean")
    relative["percent"] = 100 * (relative["auc"] / average - 1)
    rows = []
    for key, group in relative.groupby(by, dropna=False, sort=True):
        low, high = stats.percentile_interval(group["percent"], confidence)
        rows.append(dict(zip(by, key)) | {"low": low, "high": high})
    return means.drop(columns="pareto_auc").merge(pd.DataFrame(rows, columns=by + ["low", "high"]), on=by, how="left")


def ranking_stability(boot: pd.DataFrame, summaries: pd.DataFrame | None = None,
                      by: Iterable[str] = ("strategy", "dataset"), confidence: float = stats.CONFIDENCE) -> pd.DataFrame:
    """Per task: the best strategy (highest mean AUC over its runs in ``summaries``; without them,
    over the replicates), how often it stays best over the bootstrap replicates (``best_share``), and
    the strategies that cannot be told apart from it: the bootstrap interval of (best - other) AUC
    includes 0. Columns: ``by[1:]``..., best, leaders (all strategies tied at the top), best_share,
    indistinguishable (a list), shares (a dict strategy -> share of the replicates in which it is
    best, a tie of m strategies counting 1/m for each)."""
    by = list(by)
    means = (summaries.dropna(subset=["pareto_auc"]).groupby(by, dropna=False)["pareto_auc"].mean()
             if summaries is not None else None)
    rows = []
    for task, group in boot.groupby(by[1:], dropna=False, sort=True):
        task = task if isinstance(task, tuple) else (task,)
        wide = group.pivot(index="replicate", columns=by[0], values="auc")
        observed = wide.mean() if means is None else means.xs(task, level=by[1:]).reindex(wide.columns)
        leaders = [str(s) for s in observed.index if observed[s] >= observed.max() - TIE]
        best = leaders[0]
        # Strategies tied for the top of a replicate share its credit, so equal AUCs never read as a win.
        top = wide.ge(wide.max(axis=1) - TIE, axis=0)
        shares = top.div(top.sum(axis=1), axis=0).mean()
        ties = []
        for other in wide.columns:
            if other == best:
                continue
            low, high = stats.percentile_interval((wide[best] - wide[other]).to_numpy(), confidence)
            if low <= 0:
                ties.append(str(other))
        rows.append(dict(zip(by[1:], task)) | dict(best=best, leaders=leaders, best_share=float(shares[best]),
                                                   indistinguishable=ties,
                                                   shares={str(k): float(v) for k, v in shares.items()}))
    return pd.DataFrame(rows)


def ranking_text(stability: pd.DataFrame, task_column: str = "dataset") -> str:
    """Sentences for a report: per task, the best strategy, how stable that is, and ties."""
    lines = []
    for _, row in stability.iterrows():
        leaders = row.get("leaders") or [row["best"]]
        who = (f"{row['best']} has the highest AUC" if len(leaders) == 1
               else f"{', '.join(leaders)} tie for the highest AUC; {row['best']}")
        line = (f"{row[task_column]}: {who} stays best in {100 * row['best_share']:.0f}% of bootstrap resamples "
                f"of seeds and evaluation points (ties share the credit)")
        if row["indistinguishable"]:
            line += f"; it cannot be told apart (95%) from {', '.join(row['indistinguishable'])}."
        else:
            line += "; every other strategy is below it at 95%."
        lines.append(line)
    return "\n".join(lines)
