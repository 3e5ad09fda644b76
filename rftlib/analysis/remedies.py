"""RQ4: every remedy run against plain fine-tuning of the same configuration, with paired intervals.

A remedy run is matched with the *plain* run that has the same configuration once every remedy setting
is taken out (``l2_sp``, ``lp_ft``, ``wise_ft``, an ``eps_schedule``, ``final_model: robust_val`` and its
``selection_tolerance``; ``objective: flyp`` counts as ``standard``, cross-entropy from the same zero-shot
CLIP), so the two share the model, strategy, data, seed, evaluation points and attack
seeds: their per-sample outcomes are paired. For each pair:

- final robust (and clean) accuracy: the difference of the two runs' final evaluations with Newcombe's
  paired interval (``rftlib.stats.paired_difference_interval``);
- Pareto AUC: the difference with a paired bootstrap interval, resampling the evaluation points (the same
  points for both runs, at every step).

A difference is called significant when its 95% interval excludes 0. WiSE-FT needs no retraining: its
α-curve (``wise_ft.jsonl``) is drawn on the run's own Pareto plot (``rftlib.training.wise_ft``), and its
best α is compared with the fine-tuned end point (α = 1) on the same points. Reports call these
functions; they read run directories only (no torch).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rftlib.analysis import results
from rftlib import stats
from rftlib.runs.config import RunConfig
from rftlib.analysis.findings import signed, span
from rftlib.runs.outcomes import read_outcomes
from rftlib.runs.roles import REMEDY_NAMES, role_text, strategy_name, task_label, training_remedies
from rftlib.stats.pareto import pareto_auc

#: Remedy settings: a run's configuration without them is its plain counterpart's.
REMEDY_FIELDS = ("l2_sp", "lp_ft", "wise_ft", "selection_tolerance")
#: Fields that never change a run's records (left out of the matching; final_autoattack only adds to the summary).
# What never changes a run's training: where and how fast it runs, and measurements added at its end
# (AutoAttack, a robustness curve) or beside it (tracking). A remedy run pairs with a plain run that differs
# in these only.
_IGNORED = (*RunConfig.NON_IDENTITY, "final_autoattack", "robustness_curve", "tracking")


def remedy_label(config: dict[str, Any]) -> str:
    """The remedies a run uses, joined by "+" ("plain" for none; ``rftlib.runs.roles.training_remedies``).
    WiSE-FT, which does not change training, is not a label: its α-curve is the run's own."""
    return "+".join(training_remedies(config)) or "plain"


def base_key(config: dict[str, Any]) -> str:
    """A hash of the configuration with every remedy setting taken out (``final_model: robust_val`` counts
    as ``last``): equal for a remedy run and its plain counterpart."""
    base = {k: v for k, v in config.items() if k not in REMEDY_FIELDS and k not in _IGNORED}
    base["objective_options"] = {k: v for k, v in (config.get("objective_options") or {}).items()
                                 if k != "eps_schedule"}
    base["objective"] = base.get("objective") or "standard"  # absent from a sweep job's config: the default
    if base["objective"] == "flyp":  # FLYP's plain counterpart: cross-entropy from the same zero-shot model
        base["objective"], base["objective_options"] = "standard", {}
    if base.get("final_model") in (None, "robust_val"):  # absent from a sweep job's config: the default
        base["final_model"] = "last"
    return hashlib.sha256(json.dumps(base, sort_keys=True, default=str).encode()).hexdigest()[:12]


def remedy_name(label: str) -> str:
    """A ``remedy_label`` in words: "l2_sp" -> "L2-SP", "lp_ft+robust_val" -> "LP-FT + robust selection"."""
    return "plain" if label == "plain" else " + ".join(REMEDY_NAMES.get(part, part) for part in label.split("+"))


def setting_name(task: str, strategy: str) -> str:
    """"control+ / full fine-tuning": a remedy's setting (task and strategy) in words."""
    return f"{task} / {strategy_name(strategy)}"


def remedy_runs(summaries: pd.DataFrame) -> pd.DataFrame:
    """``summaries`` (``results.load_summaries``) with ``remedy`` (slugs), ``base`` (the plain counterpart's
    key), ``task`` (the dataset, "control+"/"control−" for the feature model's controls, "-domain" appended)
    and ``role`` (``rftlib.runs.roles.role_text``) columns."""
    frame = summaries.copy()
    configs = [results.read_config(Path(p)) for p in frame["path"]]
    frame["remedy"] = [remedy_label(c) for c in configs]
    frame["base"] = [base_key(c) for c in configs]
    frame["task"] = [task_label(c) for c in configs]
    frame["role"] = [role_text(c) for c in configs]
    frame["has_wise_ft"] = [(Path(p) / "wise_ft.jsonl").exists() for p in frame["path"]]
    return frame


def _final_outcomes(path: str, step) -> dict[str, np.ndarray] | None:
    outcomes = read_outcomes(path)
    return outcomes.get(int(step)) if step is not None and not pd.isna(step) else None


def _curves(path: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps x n) clean and robust outcomes of every evaluation of a run, None without outcomes."""
    outcomes = read_outcomes(path)
    if not outcomes:
        return None
    steps = sorted(outcomes)
    return (np.stack([outcomes[s]["clean"] for s in steps]).astype(bool),
            np.stack([outcomes[s]["robust"] for s in steps]).astype(bool))


def paired_auc_difference(first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray],
                          replicates: int = 500, seed: int = 0) -> tuple[float, float, float]:
    """(AUC(first) − AUC(second), low, high): percentile bootstrap over the evaluation points, the same
    resampled points for both runs and every step (paired)."""
    def auc(clean, robust, index=slice(None)):
        return pareto_auc(np.stack([clean[:, index].mean(1), robust[:, index].mean(1)], axis=1))

    n = first[0].shape[1]
    point = auc(*first) - auc(*second)
    draws = stats.resample_indices(stats.bootstrap_rng(seed), n, replicates)
    samples = np.array([auc(*first, index) - auc(*second, index) for index in draws])
    low, high = stats.percentile_interval(samples)
    return float(point), float(low), float(high)


def comparisons(summaries: pd.DataFrame, replicates: int = 500) -> pd.DataFrame:
    """One row per remedy run with a plain counterpart (same ``base``): model, strategy, dataset, domain,
    objective, seed, remedy, the final robust / clean accuracy and AUC of both, and each difference
    (remedy − plain) with its 95% interval and ``*_significant``. Empty (with these columns) without pairs."""
    frame = remedy_runs(summaries) if "remedy" not in summaries.columns else summaries
    rows = []
    plain = frame[frame["remedy"] == "plain"].drop_duplicates("base").set_index("base")
    for _, run in frame[frame["remedy"] != "plain"].iterrows():
        if run["base"] not in plain.index:
            continue
        base = plain.loc[run["base"]]
        row = {k: run.get(k) for k in ("model", "strategy", "dataset", "domain", "objective", "seed", "remedy", "task",
                                       "role")}
        row.update(run=run["run"], plain_run=base["run"], final_step=run["final_step"],
                   plain_final_step=base["final_step"])
        mine, theirs = _final_outcomes(run["path"], run["final_step"]), _final_outcomes(base["path"], base["final_step"])
        for metric, key in (("adv", "robust"), ("clean", "clean")):
            row[f"final_{metric}_acc"], row[f"plain_final_{metric}_acc"] = run[f"final_{metric}_acc"], base[f"final_{metric}_acc"]
            if mine is not None and theirs is not None and len(mine[key]) == len(theirs[key]):
                diff, low, high = stats.paired_difference_interval(mine[key], theirs[key])
            else:  # no per-sample outcomes: the difference without an interval
                diff, low, high = run[f"final_{metric}_acc"] - base[f"final_{metric}_acc"], np.nan, np.nan
            row.update({f"d_{metric}": diff, f"d_{metric}_low": low, f"d_{metric}_high": high})
        row["pareto_auc"], row["plain_pareto_auc"] = run["pareto_auc"], base["pareto_auc"]
        a, b = _curves(run["path"]), _curves(base["path"])
        if a is not None and b is not None and a[0].shape[1] == b[0].shape[1]:
            row["d_auc"], row["d_auc_low"], row["d_auc_high"] = paired_auc_difference(a, b, replicates)
        else:
            row["d_auc"], row["d_auc_low"], row["d_auc_high"] = run["pareto_auc"] - base["pareto_auc"], np.nan, np.nan
        rows.append(row)
    columns = ["model", "strategy", "dataset", "domain", "objective", "seed", "remedy", "task", "role", "run", "plain_run",
               "final_step", "plain_final_step"] + [f"{p}{m}" for m in ("final_adv_acc", "final_clean_acc", "pareto_auc")
                                                    for p in ("", "plain_")]
    columns += [f"d_{m}{s}" for m in ("adv", "clean", "auc") for s in ("", "_low", "_high")]
    table = pd.DataFrame(rows, columns=columns)
    for metric in ("adv", "clean", "auc"):
        table[f"d_{metric}_significant"] = (table[f"d_{metric}_low"] > 0) | (table[f"d_{metric}_high"] < 0)
    return table


def _difference(value, low, high, scale: float, unit: str, significant: bool) -> str:
    digits = 1 if scale == 100 else 3
    interval = "" if pd.isna(low) else f" {span(low, high, digits, scale, sign=True)}"
    verdict = "significant" if significant else "not significant"
    return f"{signed(value, digits, scale)}{unit}{interval} ({verdict})"


def comparison_sentences(table: pd.DataFrame) -> list[str]:
    """One sentence per comparison, saying which differences are significant at 95%."""
    sentences = []
    for _, row in table.iterrows():
        significant = [name for name, flag in (("final robust accuracy", row["d_adv_significant"]),
                                               ("final clean accuracy", row["d_clean_significant"]),
                                               ("AUC", row["d_auc_significant"])) if flag]
        sentences.append(
            f"{setting_name(row['task'], row['strategy'])} (seed {row['seed']}, {row['objective']}): "
            f"{remedy_name(row['remedy'])} vs plain: final robust accuracy "
            f"{_difference(row['d_adv'], row['d_adv_low'], row['d_adv_high'], 100, ' points', row['d_adv_significant'])}, "
            f"clean {_difference(row['d_clean'], row['d_clean_low'], row['d_clean_high'], 100, ' points', row['d_clean_significant'])}, "
            f"AUC {_difference(row['d_auc'], row['d_auc_low'], row['d_auc_high'], 1, '', row['d_auc_significant'])}; "
            + (f"significant: {', '.join(significant)}." if significant else "no difference is significant."))
    return sentences


def differences_table(table: pd.DataFrame) -> pd.DataFrame:
    """``comparisons`` as one readable row per remedy run: its setting and role, and each difference from
    its plain counterpart (remedy − plain) with the paired 95% interval; * marks an interval without 0."""
    def cell(row, metric: str, scale: float) -> str:
        digits = 1 if scale == 100 else 3
        mark = " *" if row[f"d_{metric}_significant"] else ""
        return (f"{signed(row[f'd_{metric}'], digits, scale)} "
                f"{span(row[f'd_{metric}_low'], row[f'd_{metric}_high'], digits, scale, sign=True)}{mark}")

    rows = [{"setting": setting_name(row["task"], row["strategy"]), "seed": row["seed"], "role": row["role"],
             "robust, points": cell(row, "adv", 100), "clean, points": cell(row, "clean", 100),
             "Pareto AUC": cell(row, "auc", 1)} for _, row in table.iterrows()]
    return pd.DataFrame(rows).set_index("setting").rename_axis(None) if rows else pd.DataFrame()


def wise_ft_points(summaries: pd.DataFrame) -> pd.DataFrame:
    """The WiSE-FT rows of every run that has them, with the run's identity columns and ``remedy`` (the
    run's ``remedy_label``: "plain", or "l2_sp" for an L2-SP run's curve, L2-SP + WiSE-FT) (empty without)."""
    from rftlib.training.wise_ft import load_wise_ft

    frames = []
    for _, run in summaries.iterrows():
        rows = load_wise_ft(run["path"])
        if len(rows):
            config = results.read_config(Path(run["path"]))
            frames.append(rows.assign(run=run["run"], path=run["path"], strategy=run["strategy"],
                                      dataset=run["dataset"], domain=run["domain"], seed=run["seed"], task=task_label(config),
                                      role=role_text(config), remedy=remedy_label(config)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["alpha", "start", "clean_acc", "adv_acc", "run", "path", "strategy", "dataset", "domain", "seed",
                 "task", "role", "remedy"])


def wise_ft_sentences(points: pd.DataFrame) -> list[str]:
    """Per run and start: the α of highest robust accuracy whose clean accuracy is above the start's
    (α = 0), against the fine-tuned end point (α = 1), with Newcombe's paired interval."""

    sentences = []
    for (run, start), curve in points.groupby(["run", "start"], sort=False):
        curve = curve.sort_values("alpha")
        ends = curve[curve["alpha"].isin([0.0, 1.0])]
        if len(ends) < 2:
            continue
        start_clean = float(curve.loc[curve["alpha"] == 0.0, "clean_acc"].iloc[0])
        inside = curve[(curve["alpha"] > 0) & (curve["alpha"] < 1) & (curve["clean_acc"] > start_clean)]
        if inside.empty:
            sentences.append(f"{run} ({start}): no interior α has a clean accuracy above the start point's.")
            continue
        best = inside.loc[inside["adv_acc"].idxmax()]
        differences = wise_ft_differences(curve["path"].iloc[0], start, metrics=("adv_acc",))
        row = differences[differences["alpha"] == best["alpha"]].iloc[0]
        diff, low, high = row["adv_acc_diff"], row["adv_acc_diff_low"], row["adv_acc_diff_high"]
        verdict = "significant" if low > 0 or high < 0 else "not significant"
        sentences.append(f"{run} ({start}): α = {best['alpha']:g} keeps clean accuracy {best['clean_acc']:.3f} "
                         f"(start {start_clean:.3f}) with robust accuracy {diff * 100:+.1f} pp "
                         f"[{low * 100:+.1f}, {high * 100:+.1f}] over the fine-tuned end point ({verdict}).")
    return sentences


def no_runs_text(summaries: pd.DataFrame, table: pd.DataFrame, points: pd.DataFrame) -> str | None:
    """Why the report has nothing to compare, or None when it has."""
    if len(table) or len(points):
        return None
    if summaries.empty:
        return "No finished runs here: nothing to compare."
    remedies = remedy_runs(summaries)
    if (remedies["remedy"] == "plain").all():
        return ("No remedy runs here (no run sets l2_sp, lp_ft, wise_ft, an eps_schedule or final_model: robust_val): "
                "there is nothing to compare with plain fine-tuning.")
    return ("The remedy runs here have no plain counterpart (the same configuration without the remedy), so "
            "no paired comparison can be made; add the plain runs to the sweep.")


__all__ = ["REMEDY_FIELDS", "base_key", "comparison_sentences", "comparisons", "differences_table", "no_runs_text",
           "remedy_name", "setting_name", "without_remedies",
           "paired_auc_difference", "remedy_label", "remedy_runs", "wise_ft_differences", "wise_ft_points", "wise_ft_sentences"]


def without_remedies(frame: pd.DataFrame, summaries: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (records or summaries) without the rows of remedy runs (``remedy`` other than "plain";
    WiSE-FT alone does not count): the RQ1-RQ3 reports compare strategies, and a remedy run of the same
    strategy, dataset and seed would otherwise be pooled with its plain counterpart as if it were a seed."""
    if summaries.empty:
        return frame
    remedies = remedy_runs(summaries)
    return frame[frame["run"].isin(set(remedies.loc[remedies["remedy"] == "plain", "run"]))]


def wise_ft_differences(run_dir: str | Path, start: str = "probe", metrics=("clean_acc", "adv_acc"),
                        confidence: float | None = None):
    """Each θ_α against the fine-tuned end point (the run's evaluation at ``end_step``, on the same
    points): per metric, ``<metric>_diff`` (θ_α minus the end point) with the paired 95% interval of
    Newcombe (``rftlib.stats.paired_difference_interval``) as ``<metric>_diff_low`` / ``_high``."""
    from rftlib import stats
    from rftlib.analysis.uncertainty import outcome_key
    from rftlib.runs.outcomes import read_step_outcomes
    from rftlib.training.wise_ft import load_wise_ft, read_wise_ft_outcomes

    frame = load_wise_ft(run_dir)
    if not len(frame):
        return frame
    frame = frame[frame["start"] == start].reset_index(drop=True)
    extra = {} if confidence is None else {"confidence": confidence}
    for metric in metrics:
        key = outcome_key(metric)
        values = []
        for row in frame.to_dict("records"):
            end = read_step_outcomes(run_dir, int(row["end_step"]))[key]
            values.append(stats.paired_difference_interval(read_wise_ft_outcomes(run_dir, row["alpha"], start)[key],
                                                           end, **extra))
        for index, suffix in enumerate(("diff", "diff_low", "diff_high")):
            frame[f"{metric}_{suffix}"] = [v[index] for v in values]
    return frame
