"""The pages a researcher reads (issue 25): a report's HTML without its code (the executed notebook keeps
it), small, its figures kept; the sweep's index with each report's headline, each run's role and its link
to the MLflow UI."""
from __future__ import annotations

import json
from types import SimpleNamespace

import nbformat

from rftlib.analysis.findings import Findings
from rftlib.runs.tracking_options import TrackingOptions
from rftlib.sweep.index import write_index
from rftlib.sweep.jobs import Job
from rftlib.sweep.render import REMOVE_OUTPUT_TAG, render_report

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def executed_report(path, headline: str = "Trade-off: 40.0 points [33.1, 46.2].") -> None:
    """An executed notebook: a title, a hidden-output cell, the findings (with their metadata) and a figure."""
    markdown, metadata = Findings([headline, "Second sentence."], title="A run")._repr_markdown_()
    cells = [nbformat.v4.new_markdown_cell("# RQ1: the trade-off"),
             nbformat.v4.new_code_cell("result = finetune(config)  # SECRET_CODE", metadata={"tags": [REMOVE_OUTPUT_TAG]},
                                       outputs=[nbformat.v4.new_output("stream", name="stderr", text="PROGRESS_BAR 50%")]),
             nbformat.v4.new_code_cell("run_findings(run_dir)", outputs=[nbformat.v4.new_output(
                 "display_data", data={"text/markdown": markdown}, metadata={"text/markdown": metadata})]),
             nbformat.v4.new_code_cell("figures.tradeoff_bands(bands);", outputs=[nbformat.v4.new_output(
                 "display_data", data={"image/png": PNG, "text/plain": "<Figure>"})])]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "rftlib", "display_name": "Python (rftlib)", "language": "python"}
    nbformat.write(notebook, str(path))


def test_a_report_renders_without_its_code_and_small(tmp_path):
    executed_report(tmp_path / "rq1.ipynb")
    page = render_report(tmp_path / "rq1.ipynb").read_text(encoding="utf-8")
    assert "SECRET_CODE" not in page and "run_findings(" not in page  # code cells hidden
    assert "PROGRESS_BAR" not in page  # a cell tagged remove_output shows nothing
    assert "<strong>Trade-off: 40.0 points [33.1, 46.2].</strong> Second sentence." in page
    assert page.count('src="data:image/png;base64') == 1 and "<title>RQ1: the trade-off</title>" in page
    assert len(page.encode()) < 20_000  # no JupyterLab stylesheet (~270 kB), no scripts from a CDN
    assert "<script" not in page
    assert "SECRET_CODE" in (tmp_path / "rq1.ipynb").read_text()  # the executed notebook keeps its code


def test_the_index_gives_each_reports_headline_each_runs_role_and_its_mlflow_run(tmp_path):
    report = Job(name="rq2_pareto", notebook=tmp_path / "rq2.ipynb", output=tmp_path / "reports" / "rq2_pareto.ipynb",
                 parameters={}, kernel="rftlib", cwd=tmp_path)
    (tmp_path / "reports").mkdir()
    executed_report(report.output, "Largest Pareto AUC: on digits full fine-tuning (0.688 [0.614, 0.769]).")
    (tmp_path / "reports" / "rq2_pareto.done").touch()
    run_dir = tmp_path / "control"
    run_dir.mkdir()
    executed_report(run_dir / "notebook.ipynb", "Trade-off: robust accuracy fell 80.0 points [72.5, 85.6].")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    (run_dir / "mlflow.json").write_text(json.dumps({uri: "abc123"}))
    (tmp_path / "mlflow.json").write_text(json.dumps({uri: {"experiment_id": "7", "run_id": "sweep42"}}))
    run = Job(name="control", notebook=tmp_path / "rq1.ipynb", output=run_dir / "notebook.ipynb", parameters={},
              kernel="rftlib", cwd=tmp_path, config={"strategy": "full", "dataset": "feature_model",
                                                     "dataset_options": {"nonrobust_strength": 4.0}, "l2_sp": {}})
    sweep = SimpleNamespace(name="demo", path=tmp_path / "demo.yaml", root=tmp_path, runs=[run], reports=[report],
                            tracking=TrackingOptions(uri=uri))
    page = write_index(sweep).read_text(encoding="utf-8")
    assert "Largest Pareto AUC: on digits full fine-tuning (0.688 [0.614, 0.769])." in page
    assert "</td><td>control+, remedy: L2-SP</td>" in page and "Trade-off: robust accuracy fell 80.0 points" in page
    assert 'href="http://127.0.0.1:5000/#/runs/abc123"' in page  # the run in the MLflow UI
    assert 'href="http://127.0.0.1:5000/#/experiments/7"' in page and "#/runs/sweep42" in page
    assert "<code>rft ui</code> (or <code>make ui</code>) serves it" in page
