"""Notebooks: stored clean, executed through papermill by `rft sweep` (local launcher) on tiny settings."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from rftlib.cli import main
from rftlib.sweep import load_sweep
from rftlib.sweep.parameters import declared_parameters

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "tests" / "notebooks").glob("*.ipynb"))
TINY_RUN = ROOT / "tests" / "notebooks" / "tiny_run.ipynb"
TINY_REPORT = ROOT / "tests" / "notebooks" / "tiny_report.ipynb"


def images(html: Path) -> int:
    """How many figures an HTML render embeds."""
    return html.read_text(encoding="utf-8").count('src="data:image/png;base64')


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"
    assert notebook.metadata["kernelspec"]["name"] == "rftlib"
    assert declared_parameters(path)  # each has a `parameters` cell


def test_the_real_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"rq1_tradeoff.ipynb", "rq2_pareto.ipynb", "rq3_ood.ipynb", "rq4_remedies.ipynb",
                                           "theory.ipynb"}


@pytest.mark.slow
def test_local_sweep_fails_one_run_then_redoes_only_it(tmp_path, monkeypatch, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({"notebook": str(TINY_RUN), "output_dir": str(tmp_path / "out"),
                                    "grid": {"x": [1, 2]}, "reports": {str(TINY_REPORT): {}}}))
    monkeypatch.setenv("TINY_FAIL", "2")  # the kernels inherit it: the run with x = 2 raises
    assert main(["sweep", str(path), "--jobs", "2", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "1 done now, 0 already done, 1 failed" in out and "RuntimeError: asked to fail for x=2" in out
    ok, failed = load_sweep(path).runs
    assert ok.status() == "done" and failed.status() == "failed"
    result = json.loads((ok.directory / "result.json").read_text())
    assert result["threads"] == "1" or int(result["threads"]) >= 1  # threads split between the 2 jobs
    # The failed run keeps its executed notebook, with the error, and its render.
    executed = nbformat.read(failed.output, as_version=4)
    assert any(o.get("ename") == "RuntimeError" for c in executed.cells for o in c.get("outputs", []))
    assert "asked to fail" in failed.output.with_suffix(".html").read_text(encoding="utf-8")
    # The other run went on, and the report was made from it; the index links everything.
    reports = tmp_path / "out" / "tiny" / "reports"
    assert images(reports / "tiny_report.html") == 1
    index = (reports / "index.html").read_text(encoding="utf-8")
    assert 'href="tiny_report.html"' in index and f'href="../{failed.name}/notebook.html"' in index
    assert str(reports / "index.html") in out or "reports/index.html" in out

    done_at = (ok.directory / "notebook.done").stat().st_mtime_ns
    monkeypatch.delenv("TINY_FAIL")
    assert main(["sweep", str(path), "--jobs", "2", "--no-progress"]) == 0
    assert "1 done now, 1 already done, 0 failed" in capsys.readouterr().out
    assert (ok.directory / "notebook.done").stat().st_mtime_ns == done_at  # not run again
    assert failed.status() == "done"


@pytest.mark.slow
def test_every_notebook_runs_in_a_tiny_sweep(tmp_path, capsys):
    """rq1 for four tiny runs (two tasks without domains, one with, and a ResNet beside the ViT), then
    rq2 (split by backbone too), rq3 and theory."""
    tiny = {"profile": "demo", "upstream": None, "pretrained": False, "max_steps": 4, "batch_size": 16,
            "model_kwargs": {"img_size": 8, "patch_size": 4, "depth": 1, "embed_dim": 32, "num_heads": 2},
            "schedule": [[4, 2]], "eval_size": 16, "eval_batch_size": 16, "attack.steps": 1, "device": "cpu",
            "attacks": [{"name": "pgd"}, {"name": "apgd_ce_t", "steps": 1, "targets": 2}],
            "final_autoattack": {"size": 8, "steps": 1, "square_queries": 5}}
    path = tmp_path / "nb.yaml"
    path.write_text(yaml.safe_dump({
        "output_dir": str(tmp_path / "out"), "parameters": tiny,
        "grid": [{"strategy": ["lora", "bitfit"], "dataset": "digits"},
                 {"strategy": "lora", "dataset": "synthetic", "domain": "d0",
                  "dataset_options": {"domains": 2, "num_classes": 4, "train_size": 48, "test_size": 16}},
                 {"profile": "demo_resnet", "strategy": "lora", "dataset": "digits", "image_size": 8,
                  "model_kwargs": {"layers": [1, 1, 1, 1], "channels": [8, 8, 16, 16], "stem_width": 8}}],
        "reports": {str(ROOT / "notebooks" / "rq2_pareto.ipynb"): {},
                    str(ROOT / "notebooks" / "rq3_ood.ipynb"): {},
                    str(ROOT / "notebooks" / "rq4_remedies.ipynb"): {},
                    str(ROOT / "notebooks" / "theory.ipynb"): {
                        "d": 10, "ks": [0, 5, 10], "n": 2000, "threshold_ds": [5, 10], "threshold_ks": [0, 5, 10]}},
    }))
    code = main(["sweep", str(path), "--jobs", "2", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    sweep = load_sweep(path)
    for run in sweep.runs:
        assert run.status() == "done"
        assert images(run.output.with_suffix(".html")) == 3  # accuracies with bands, per attack, Pareto frontier
    figures = {report.name: images(report.output.with_suffix(".html")) for report in sweep.reports}
    # rq2: frontiers, AUC with intervals, trainable parameters, AUC against complexity (no "% above average":
    # the tiny runs' average AUC is within noise of zero, and the report says so); rq3: OOD over training,
    # shift against clean accuracy, OOD against robust accuracy; rq4: no remedy runs here, so no figure, and
    # a line saying why; theory: the curves against eta, the thresholds, the claim (the crossing at eta = eps).
    # No figure twice, no plain heatmap beside its interval version.
    assert figures == {"rq2_pareto": 4, "rq3_ood": 3, "rq4_remedies": 0, "theory": 3}
    rq4 = next(r for r in sweep.reports if r.name == "rq4_remedies").output.with_suffix(".html")
    assert "No remedy runs here" in rq4.read_text(encoding="utf-8")
    index = (sweep.root / "reports" / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{name}.html"' in index for name in figures)
    # Every report opens with its computed findings, and the index quotes each one's headline.
    assert "nothing can be told apart" in index and "No remedy runs here" in index
    for report in sweep.reports:
        page = report.output.with_suffix(".html").read_text(encoding="utf-8")
        assert "<strong>" in page and "import " not in page and "RuntimeWarning" not in page
