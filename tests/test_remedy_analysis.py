"""The RQ4 analysis: remedy runs matched with their plain counterparts, paired differences with known
answers (robust selection trains exactly as plain fine-tuning: its frontier, hence its AUC, is the
same; L2-SP with zero weights changes nothing), the sentences, and the report with and without remedies."""
import pytest

from rftlib import finetune, results
from rftlib.remedies import analysis
from test_l2_sp import SMALL
from training_helpers import tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rq4")
    base = tiny_config(model_kwargs=SMALL, max_steps=8, lr=3e-3, output_dir=str(root))
    for extra in ({}, {"final_model": "robust_val"}, {"l2_sp": {"alpha": 0.0, "beta": 0.0}}):
        finetune({**base, **extra}, progress=False)
    return root


def test_remedy_runs_are_matched_and_their_differences_have_known_answers(runs):
    summaries = results.load_summaries(runs)
    remedies = analysis.remedy_runs(summaries)
    assert sorted(remedies["remedy"]) == ["l2_sp", "plain", "robust_val"] and remedies["base"].nunique() == 1
    table = analysis.comparisons(remedies, replicates=50).set_index("remedy")
    # Robust selection trains exactly as plain fine-tuning: the same frontier, an AUC difference of exactly 0.
    selection = table.loc["robust_val"]
    assert (selection["d_auc"], selection["d_auc_low"], selection["d_auc_high"]) == (0.0, 0.0, 0.0)
    assert selection["d_adv"] == pytest.approx(selection["final_adv_acc"] - selection["plain_final_adv_acc"])
    assert selection["d_adv_low"] <= selection["d_adv"] <= selection["d_adv_high"]
    # L2-SP with zero weights is plain fine-tuning: every difference 0, none significant.
    zero = table.loc["l2_sp"]
    assert zero[["d_adv", "d_clean", "d_auc"]].tolist() == [0.0, 0.0, 0.0]
    assert not zero[["d_adv_significant", "d_clean_significant", "d_auc_significant"]].any()
    sentences = analysis.comparison_sentences(table.reset_index())
    assert len(sentences) == 2 and any("l2_sp vs plain" in s and s.endswith("no difference is significant.")
                                       for s in sentences)
    assert analysis.no_runs_text(summaries, table, analysis.wise_ft_points(summaries)) is None


def test_without_remedy_runs_the_report_says_why(runs):
    plain = results.load_summaries(runs)
    plain = plain[analysis.remedy_runs(plain)["remedy"] == "plain"]
    table, points = analysis.comparisons(plain), analysis.wise_ft_points(plain)
    assert table.empty and points.empty
    assert analysis.no_runs_text(plain, table, points).startswith("No remedy runs here")
    lone = results.load_summaries(runs)
    lone = lone[analysis.remedy_runs(lone)["remedy"] == "l2_sp"]
    assert "no plain counterpart" in analysis.no_runs_text(lone, analysis.comparisons(lone), points)
