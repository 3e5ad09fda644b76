"""What the reports say (issue 25): every report's computed opening (numbers with 95% intervals, "nothing can
be told apart" where that is the answer), the labels that name what was measured, the roles, and the
statistics made comparable. Run directories are written by hand with per-sample outcomes, so every number is
known; nothing trains here."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from rftlib import stats
from rftlib.analysis import comparison, results, threat_reports, uncertainty
from rftlib.analysis.findings import Findings, Section
from rftlib.analysis.findings.run import run_findings
from rftlib.analysis.findings.strategies import strategy_findings
from rftlib.runs import measures
from rftlib.runs.outcomes import write_outcomes
from rftlib.runs.roles import role_text, run_role

N = 200
ATTACKS = {"attack": {"eps": 1 / 255, "alpha": 0.5 / 255, "steps": 3},
           "attacks": [{"name": "pgd"}, {"name": "apgd", "steps": 3}]}


def flags(rate: float, seed: int, n: int = N) -> np.ndarray:
    """n booleans with exactly round(rate * n) True, in a seeded order."""
    values = np.zeros(n, dtype=bool)
    values[: round(rate * n)] = True
    return np.random.default_rng(seed).permutation(values)


def write_run(directory, strategy: str, curve: dict[int, tuple[float, float]], dataset: str = "digits", seed: int = 0,
              **config) -> None:
    """A finished run: config, records and per-sample outcomes with the given (clean, robust) per step; the
    robust points are a subset of the clean ones, PGD's robust a superset of the worst case's."""
    directory.mkdir(parents=True)
    config = dict(model="vit_tiny_patch16_224", strategy=strategy, dataset=dataset, domain=None, seed=seed,
                  eval_size=N, **{**ATTACKS, **config})
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    order = np.random.default_rng(seed + 17).permutation(N)  # the same points become robust first at every step
    lines = []
    for step, (clean_rate, robust_rate) in curve.items():
        clean, robust, pgd = (np.zeros(N, dtype=bool) for _ in range(3))
        clean[order[: round(clean_rate * N)]] = True
        robust[order[: round(robust_rate * N)]] = True
        pgd[order[: min(round(clean_rate * N), round(robust_rate * N) + 10)]] = True  # PGD finds less
        write_outcomes(directory, step, {"clean": clean, "robust": robust, "robust_pgd": pgd, "robust_apgd": robust})
        lines.append(json.dumps(dict(step=step, clean_acc=clean.mean(), adv_acc=robust.mean(), adv_acc_pgd=pgd.mean(),
                                     adv_acc_apgd=robust.mean(), ood_acc=None)))
    (directory / "records.jsonl").write_text("".join(line + "\n" for line in lines))
    (directory / "done").touch()


FALLING = {0: (0.10, 0.05), 50: (0.70, 0.60), 100: (0.85, 0.45), 200: (0.95, 0.20)}
RISING = {0: (0.10, 0.05), 50: (0.50, 0.30), 100: (0.70, 0.40), 200: (0.80, 0.50)}
WOBBLE = {0: (0.10, 0.05), 50: (0.50, 0.30), 100: (0.70, 0.41), 200: (0.72, 0.40)}  # a 1-point dip: noise


# ---- labels: what was measured ----------------------------------------------------------------------

def test_robust_accuracy_is_labelled_with_its_attacks_norm_and_radius():
    config = dict(model="vit_tiny_patch16_224", strategy="full", dataset="digits", seed=0, **ATTACKS)
    assert measures.robust_label(config) == "robust accuracy, worst of PGD-3 and APGD-3, L∞ 1/255"
    assert measures.metric_label(config, "adv_acc_pgd") == "robust accuracy, PGD-3, L∞ 1/255"
    single = {**config, "attacks": None, "attack": {"eps": 4 / 255, "alpha": 1 / 255, "steps": 10}}
    assert measures.robust_label(single) == "robust accuracy, PGD-10, L∞ 4/255"
    curve = {**config, "robustness_curve": {"norm": "L2", "radii": [0.1, 0.4]}}
    assert measures.metric_label(curve, "curve_1_acc") == "robust accuracy, PGD-3, L2 0.4"  # no "102/255" for L2


def test_autoattack_is_called_reduced_unless_it_was_standard():
    reduced = {"eps": 1 / 255, "standard": False, "options": {"steps": 5, "targets": 3, "square_queries": 50}}
    assert measures.autoattack_label(reduced) == ("Reduced AutoAttack (APGD-CE, APGD-T 3 targets, FAB-T, Square; "
                                                  "5 iterations, 50 Square queries; L∞ 1/255)")
    assert measures.autoattack_label({"eps": 4 / 255, "standard": True, "options": {}}) == "AutoAttack (standard, L∞ 4/255)"


def test_no_figure_says_pgd_where_the_robust_accuracy_is_a_worst_case(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from rftlib import figures

    write_run(tmp_path / "run", "full", FALLING)
    config = results.read_config(tmp_path / "run")
    bands, verdict = uncertainty.run_tradeoff(tmp_path / "run")
    label = measures.robust_label(config)
    figure = figures.tradeoff_bands(bands, verdict, robust_label=label)
    texts = [t.get_text() for t in figure.findobj(matplotlib.text.Text)]
    assert label in texts and not any("PGD robust" in t for t in texts)
    assert "PGD" not in figures.ACCURACY_LABELS["adv_acc"]
    # The figure's peak is the study's peak: the first evaluation of highest adv_acc.
    assert "robustness peak: 60.0% at step 50" in texts


def test_one_row_per_threat_model_actually_used(tmp_path):
    write_run(tmp_path / "task", "full", FALLING)
    write_run(tmp_path / "control", "full", FALLING, dataset="feature_model",
              attack={"eps": 4 / 255, "alpha": 2 / 255, "steps": 3}, dataset_options={"nonrobust_strength": 4.0})
    summaries = results.load_summaries(tmp_path)
    models = threat_reports.threat_models(summaries)
    worst = models[models["metric"] == "adv_acc"].set_index("name")["runs"]
    # The control's 4/255 is its own row, not folded into the task's 1/255.
    assert worst.to_dict() == {"worst of PGD-3 and APGD-3, L∞ 1/255": 1, "worst of PGD-3 and APGD-3, L∞ 4/255": 1}
    assert len(models) == 6  # worst case, PGD and APGD at each of the two radii


# ---- roles ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, role", [
    ({"dataset": "digits"}, "plain"),
    ({"dataset": "feature_model", "dataset_options": {"nonrobust_strength": 4.0}}, "control+"),
    ({"dataset": "feature_model", "dataset_options": {"nonrobust_strength": 0.0}}, "control−"),
    ({"dataset": "digits", "l2_sp": {"alpha": 1.0}}, "remedy: L2-SP"),
    ({"dataset": "digits", "lp_ft": {}}, "remedy: LP-FT"),
    ({"dataset": "digits", "objective_options": {"eps_schedule": {"clean": 0.1}}}, "remedy: ε-schedule"),
    ({"dataset": "digits", "wise_ft": {"alphas": [0.5]}}, "remedy: WiSE-FT"),
    ({"dataset": "digits", "objective": "flyp"}, "remedy: FLYP"),
    ({"dataset": "feature_model", "dataset_options": {"nonrobust_strength": 0.0}, "final_model": "robust_val"},
     "control−, remedy: robust selection"),
    ({"dataset": "feature_model", "l2_sp": {"alpha": 1.0}, "wise_ft": {}}, "control+, remedy: L2-SP + WiSE-FT"),
])
def test_every_run_has_a_role_in_words(config, role):
    assert role_text(config) == role
    assert run_role(config).is_remedy == role.split(", ")[-1].startswith("remedy")


# ---- findings: the openings -----------------------------------------------------------------------

def test_a_run_that_falls_from_its_peak_opens_with_the_trade_off_and_its_interval(tmp_path):
    write_run(tmp_path / "run", "full", FALLING)
    found = run_findings(tmp_path / "run")
    verdict = uncertainty.run_tradeoff(tmp_path / "run")[1]
    assert verdict["verdict"] == "trade-off"
    low, high = verdict["drop_low"], verdict["drop_high"]
    assert found.headline.startswith("Trade-off: robust accuracy (worst of PGD-3 and APGD-3, L∞ 1/255) fell 40.0 points "
                                     f"[{100 * low:.1f}, {100 * high:.1f}] from its peak of 60.0% at step 50 to 20.0% "
                                     "at step 200")
    clean_low, clean_high = stats.wilson_interval(190, N)
    assert f"clean accuracy went to 95.0% [{100 * clean_low:.1f}, {100 * clean_high:.1f}]" in found.headline
    # Each attack alone at the end: PGD found 10 fewer points than the worst case.
    assert "PGD-3 25.0%" in found.sentences[1] and "APGD-3 20.0%" in found.sentences[1]
    assert found.title == "full fine-tuning on digits, seed 0 — plain"
    assert 2 <= len(found.sentences) <= 5


@pytest.mark.parametrize("curve, opening", [
    (RISING, "No trade-off seen: robust accuracy (worst of PGD-3 and APGD-3, L∞ 1/255) was still at its highest at "
             "the last step, 50.0%"),
    (WOBBLE, "No trade-off can be told apart: robust accuracy (worst of PGD-3 and APGD-3, L∞ 1/255) ended 1.0 points "
             "[−0.4, 2.4] below its peak of 41.0% at step 100"),
])
def test_a_run_without_a_significant_fall_says_so(tmp_path, curve, opening):
    write_run(tmp_path / "run", "lora", curve)
    assert run_findings(tmp_path / "run").headline.startswith(opening)


def test_the_findings_render_as_markdown_with_their_headline_in_the_metadata():
    found = Findings(["First, with 1.0 [0.5, 1.5].", "Second."], title="A run")
    markdown, metadata = found._repr_markdown_()
    assert markdown == "## A run\n\n**First, with 1.0 [0.5, 1.5].** Second."
    assert metadata == {"rftlib": {"headline": "First, with 1.0 [0.5, 1.5].", "title": "A run"}}
    assert Section("Title", "Text.", level=3)._repr_markdown_() == "### Title\n\nText."


@pytest.fixture
def strategy_study(tmp_path):
    """Two tasks: on "digits" full is clearly best; on "noise" three strategies of equal AUC (nothing told
    apart); a positive control that falls and a negative control that does not."""
    write_run(tmp_path / "d-full", "full", RISING)
    write_run(tmp_path / "d-lora", "lora", {0: (0.10, 0.02), 50: (0.30, 0.05), 100: (0.40, 0.06), 200: (0.45, 0.07)})
    write_run(tmp_path / "d-bitfit", "bitfit", {0: (0.10, 0.02), 50: (0.30, 0.04), 100: (0.40, 0.05), 200: (0.45, 0.05)})
    for strategy, seed in (("full", 1), ("lora", 2), ("bitfit", 3)):
        write_run(tmp_path / f"n-{strategy}", strategy, WOBBLE, dataset="synthetic", seed=0)
    write_run(tmp_path / "c-plus", "full", FALLING, dataset="feature_model", dataset_options={"nonrobust_strength": 4.0})
    write_run(tmp_path / "c-minus", "full", RISING, dataset="feature_model", dataset_options={"nonrobust_strength": 0.0})
    return tmp_path


def test_the_rq2_opening_names_the_best_and_says_where_nothing_can_be_told_apart(strategy_study):
    records, summaries = comparison.strategy_runs(strategy_study)
    assert set(summaries["dataset"]) == {"digits", "synthetic", "control+", "control−"}
    boot = uncertainty.bootstrap_aucs(summaries, replicates=200, seed=0)
    aucs = uncertainty.auc_intervals(summaries, boot)
    stability = uncertainty.ranking_stability(boot, summaries)
    verdicts = uncertainty.tradeoff_table(summaries)
    verdicts["dataset"] = verdicts["run"].map(summaries.set_index("run")["dataset"])
    found = strategy_findings(summaries, stability, aucs, verdicts)
    assert found.headline.startswith("Largest Pareto AUC (robust accuracy: worst of PGD-3 and APGD-3, L∞ 1/255): on "
                                     "digits full fine-tuning (")
    assert "ahead of every other strategy at 95%" in found.headline
    assert "on synthetic nothing can be told apart" in found.headline
    assert found.sentences[1].startswith("None of the 6 runs on the tasks fell significantly from its robustness peak")
    assert found.sentences[2].startswith("The controls behave as built: robust accuracy fell in 1 of 1 control+ runs "
                                         "(full fine-tuning 40.0 points")


# ---- comparable statistics ---------------------------------------------------------------------------

def test_averages_are_over_the_common_set_and_not_where_the_average_is_noise(strategy_study):
    _, summaries = comparison.strategy_runs(strategy_study)
    assert comparison.common_set(summaries) == (["digits", "synthetic"], ["full", "lora", "bitfit"])
    boot = uncertainty.bootstrap_aucs(summaries, replicates=200, seed=0)
    percent, averages = comparison.above_average(boot, summaries)
    assert set(percent["dataset"]) == {"digits", "synthetic"}  # no "+0.0" column for a lone control
    assert not averages["within_noise"].any() and percent["percent"].notna().all()
    # An average this close to zero (its interval reaches below half its value) gets no ratio, and says why.
    near_zero = boot.assign(auc=np.where(boot["dataset"] == "synthetic", boot["auc"] * np.where(
        boot["replicate"] % 2 == 0, 0.01, 1.0), boot["auc"]))
    percent, averages = comparison.above_average(near_zero, summaries)
    assert averages.set_index("dataset")["within_noise"].to_dict() == {"digits": False, "synthetic": True}
    assert percent.loc[percent["dataset"] == "synthetic", "percent"].isna().all()
    assert "within noise of zero" in comparison.within_noise_text(averages)


def test_a_table_of_single_runs_is_not_headed_mean_and_std(strategy_study):
    _, summaries = comparison.strategy_runs(strategy_study)
    assert comparison.spread_heading(summaries) == "one run per cell (no spread over seeds)"
    two = pd.concat([summaries, summaries.assign(seed=1)])
    assert comparison.spread_heading(two) == "mean ± std over 2 seeds"


def test_percent_above_average_against_complexity_uses_tasks_where_every_strategy_ran():
    from rftlib.analysis.complexity.analysis import _targets

    per_task = pd.DataFrame({"task": ["a", "a", "b", "b", "c"], "strategy": ["full", "lora", "full", "lora", "full"],
                             "mean": [0.6, 0.2, 0.5, 0.5, 0.9]})
    targets = _targets(per_task)
    assert sorted(targets["full % above average"].index) == ["a", "b"]  # not "c", where full ran alone
    assert targets["full % above average"]["a"] == pytest.approx(50.0)


def test_each_rq2_panel_has_its_own_robust_range_and_label(strategy_study):
    import matplotlib

    matplotlib.use("Agg")
    from rftlib import figures

    records, summaries = comparison.strategy_runs(strategy_study)
    labels = comparison.robust_labels(summaries)
    figure = figures.pareto_fronts(records, labels)
    axes = {ax.get_title(): ax for ax in figure.axes if ax.get_visible()}
    for task, ax in axes.items():
        top = records.loc[records["dataset"] == task, "adv_acc"].max()
        assert top <= ax.get_ylim()[1] <= top * 1.1 + 0.01  # nothing off the top, no empty band above
        assert ax.get_ylabel().replace("\n", " ") == labels[task]
    assert axes["control+"].get_ylim()[1] > axes["synthetic"].get_ylim()[1] * 1.3  # not one shared axis
