"""The RQ4 analysis: remedy runs matched with their plain counterparts, paired differences with known
answers (robust selection trains exactly as plain fine-tuning: its frontier, hence its AUC, is the
same; L2-SP with zero weights changes nothing), the sentences, and the report with and without remedies."""
import pytest

from rftlib import finetune
from rftlib.analysis import results
from rftlib.analysis import remedies as analysis
from test_l2_sp import SMALL
from training_helpers import tiny_config


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rq4")
    base = tiny_config(model_kwargs=SMALL, max_steps=8, lr=3e-3, output_dir=str(root))
    # The plain run carries a WiSE-FT curve: it does not change training, so the run stays "plain"; so does
    # the L2-SP run (its curve is L2-SP + WiSE-FT).
    for extra in ({"wise_ft": {"alphas": [0.0, 0.5, 1.0]}}, {"final_model": "robust_val"},
                  {"l2_sp": {"alpha": 0.0, "beta": 0.0}, "wise_ft": {"alphas": [0.0, 1.0]}}):
        finetune({**base, **extra}, progress=False)
    return root


@pytest.mark.slow  # the module fixture trains three tiny runs (~8 s CPU together)
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
    assert len(sentences) == 2 and any("L2-SP vs plain" in s and s.endswith("no difference is significant.")
                                       for s in sentences)
    points = analysis.wise_ft_points(summaries)
    assert analysis.no_runs_text(summaries, table, points) is None
    assert sorted(points["alpha"]) == [0.0, 0.0, 0.5, 1.0, 1.0] and points["run"].nunique() == 2
    assert sorted(points.drop_duplicates("run")["remedy"]) == ["l2_sp", "plain"]
    # One sentence per curve (the L2-SP run's says it has no interior α).
    assert len(analysis.wise_ft_sentences(points)) == 2


@pytest.mark.slow  # the module fixture trains three tiny runs (~8 s CPU together)
def test_the_figures_draw_and_the_other_reports_leave_remedy_runs_out(runs):
    from rftlib.figures import remedies as figures

    summaries, records = results.load_summaries(runs), results.load_records(runs)
    remedies = analysis.remedy_runs(summaries)
    fronts = figures.remedy_fronts(records, remedies)
    names = [text.get_text() for text in fronts.legends[0].get_texts()]
    assert len(fronts.axes) == 1 and {"plain: final model", "robust selection: final model", "L2-SP: final model"} <= set(names)
    # Equal final points stay visible: plain's open circle under each remedy's smaller filled marker, unclipped.
    plain, *others = [c for c in fronts.axes[0].collections if c.get_offsets().shape[0] == 1]
    assert plain.get_sizes()[0] > max(o.get_sizes()[0] for o in others) and not plain.get_clip_on()
    curves = figures.wise_ft_curves(records, analysis.wise_ft_points(summaries))
    titles = sorted(ax.get_title() for ax in curves.axes if ax.get_title())
    assert len(titles) == 2 and titles[0].endswith(": L2-SP + WiSE-FT") and titles[1].endswith(": WiSE-FT")
    kept = analysis.without_remedies(records, summaries)
    assert set(kept["run"]) == set(remedies.loc[remedies["remedy"] == "plain", "run"]) and len(set(kept["run"])) == 1


@pytest.mark.slow  # the module fixture trains three tiny runs (~8 s CPU together)
def test_without_remedy_runs_the_report_says_why(runs):
    plain = results.load_summaries(runs)
    plain = plain[analysis.remedy_runs(plain)["remedy"] == "plain"]
    table, points = analysis.comparisons(plain), analysis.wise_ft_points(plain).iloc[0:0]  # nor a WiSE-FT curve
    assert table.empty
    assert analysis.no_runs_text(plain, table, points).startswith("No remedy runs here")
    lone = results.load_summaries(runs)
    lone = lone[analysis.remedy_runs(lone)["remedy"] == "l2_sp"]
    assert "no plain counterpart" in analysis.no_runs_text(lone, analysis.comparisons(lone), points)
