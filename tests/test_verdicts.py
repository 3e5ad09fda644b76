"""RQ4's verdict per setting (rftlib.analysis.verdicts): the eligible remedy of highest robust accuracy,
its paired difference from plain fine-tuning, adjusted for picking the best; known answers on made-up
outcomes, then on real tiny runs."""
import numpy as np
import pytest

from rftlib.analysis import results, verdicts
from test_remedy_analysis import runs  # noqa: F401  the same three tiny runs (a module fixture)


def outcomes(n, clean_right, robust_right):
    """Boolean outcomes of n points: the first ``clean_right`` correct, the first ``robust_right`` robust."""
    return {"clean": np.arange(n) < clean_right, "robust": np.arange(n) < robust_right}


def candidate(label, n, clean_right, robust_right):
    return {"label": label, "run": label, **outcomes(n, clean_right, robust_right)}


END = outcomes(400, 380, 100)  # plain fine-tuning: clean 0.95, robust 0.25


def test_the_most_robust_remedy_within_the_clean_tolerance_wins():
    row = verdicts.decide(END, [
        candidate("WiSE-FT α=0.25", 400, 300, 300),  # far more robust, but 20 points of clean accuracy lost
        candidate("WiSE-FT α=0.5", 400, 374, 180),  # clean -1.5 points: within 2; robust +20 points
        candidate("robust selection", 400, 380, 120),
    ], tolerance=0.02)
    assert (row["candidates"], row["eligible"], row["best"]) == (3, 2, "WiSE-FT α=0.5")
    assert row["d_adv"] == pytest.approx(0.2) and row["d_clean"] == pytest.approx(-0.015)
    assert row["d_adv_low_adjusted"] < row["d_adv_low"] < 0.2 < row["d_adv_high"] < row["d_adv_high_adjusted"]
    assert row["verdict"] == verdicts.HELPS
    looser = verdicts.decide(END, [candidate("WiSE-FT α=0.25", 400, 300, 300)], tolerance=0.25)
    assert looser["best"] == "WiSE-FT α=0.25" and looser["verdict"] == verdicts.HELPS


def test_a_remedy_that_changes_nothing_reads_no_change():
    row = verdicts.decide(END, [candidate("L2-SP", 400, 380, 100)])
    assert row["d_adv"] == 0.0 and row["verdict"] == verdicts.NO_CHANGE


def test_picking_the_best_of_many_needs_the_adjusted_interval_to_clear_zero():
    # +2 points on 400 (8 points more robust, none less): significant alone, not as the best of 30.
    alone = verdicts.decide(END, [candidate("ε-schedule", 400, 380, 108)])
    assert alone["d_adv_low"] > 0 and alone["verdict"] == verdicts.HELPS
    many = verdicts.decide(END, [candidate("ε-schedule", 400, 380, 108)]
                           + [candidate(f"WiSE-FT α={a}", 400, 380, 100) for a in range(29)])
    assert many["best"] == "ε-schedule" and many["d_adv_low"] > 0 > many["d_adv_low_adjusted"]
    assert many["verdict"] == verdicts.NO_CHANGE


def test_every_remedy_worse_or_none_within_tolerance():
    worse = verdicts.decide(END, [candidate("LP-FT", 400, 380, 40)])
    assert worse["verdict"] == verdicts.WORSE and worse["d_adv_high_adjusted"] < 0
    none = verdicts.decide(END, [candidate("LP-FT", 400, 300, 200)], tolerance=0.02)
    assert none["verdict"] == verdicts.NONE_ELIGIBLE and none["eligible"] == 0 and "best" not in none
    assert verdicts.remedy_name("l2_sp+robust_val") == "L2-SP + robust selection"


@pytest.mark.slow  # the module fixture of test_remedy_analysis trains three tiny runs (~8 s CPU together)
def test_verdicts_of_real_runs(runs):
    summaries = results.load_summaries(runs)
    table = verdicts.remedy_verdicts(summaries, tolerance=1.0)
    assert len(table) == 1 and list(table.columns) == verdicts.COLUMNS
    row = table.iloc[0]
    # Candidates: WiSE-FT α = 0.5 of the plain run, robust selection, and L2-SP with zero weights, which is
    # plain fine-tuning: so the best is at least as robust as plain fine-tuning, and never "worse".
    assert row["candidates"] == 3 and row["eligible"] == 3 and row["d_adv"] >= 0
    assert row["verdict"] in (verdicts.HELPS, verdicts.NO_CHANGE)
    sentence, = verdicts.verdict_sentences(table)
    assert sentence.startswith(f"{row['dataset']} / {row['strategy']} (seed {row['seed']})") and row["best"] in sentence
    assert verdicts.remedy_verdicts(summaries.iloc[0:0]).empty

