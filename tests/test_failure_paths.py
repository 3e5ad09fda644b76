"""Failed runs are counted wherever they failed (before their first record, before their configuration),
the reports and the sweep index give every run the same status, and a report with nothing finished
renders and says why."""
import json
import sys
from pathlib import Path

import pytest
import yaml

from rftlib.core.errors import RftError
from rftlib.analysis.results import (RunsLeftOut, end_report_if_empty, left_out_text, load_records, load_summaries,
                            run_statuses, why_empty)
from rftlib.runs.rundir import RunLock
from rftlib.sweep.execute import execute_job, mark_run_failed
from rftlib.sweep.index import write_index
from rftlib.sweep.jobs import Job
from test_results import record, write_run

REPORTS = Path(__file__).parent.parent / "notebooks"
SUMMARY = {"final": record(100, 0.9, 0.2), "best_adv_acc": 0.3, "best_adv_step": 50, "pareto_auc": 0.5,
           "trainable_fraction": 0.01}


def _runs(root: Path) -> dict[str, Path]:
    """Two finished runs and four that are not results, each stopped at another point."""
    runs = {name: write_run(root / name, seed=i, records=[record(0, 0.1, 0.05), record(100, 0.9, 0.2)],
                            summary=SUMMARY, done=True) for i, name in enumerate(["done_a", "done_b"])}
    runs["killed"] = write_run(root / "killed", seed=2, records=[record(0, 0.1, 0.05)])
    runs["diverged"] = write_run(root / "diverged", seed=3, records=[record(0, 0.1, 0.05)])
    (runs["diverged"] / "failed").write_text("TrainingDiverged: loss is nan at step 5\n")
    runs["corrupt_weights"] = write_run(root / "corrupt_weights", seed=4)  # failed before its first record
    (runs["corrupt_weights"] / "records.jsonl").unlink()
    (runs["corrupt_weights"] / "failed").write_text("RftError: cannot read weights.safetensors\n")
    runs["refused"] = root / "refused"  # its notebook failed before the run wrote anything
    runs["refused"].mkdir()
    mark_run_failed(runs["refused"], "RftError: unknown model 'vit_tiniest' (cell 2)")
    return runs


def test_every_failed_run_is_counted_and_the_count_is_one_sentence(tmp_path):
    runs = _runs(tmp_path)
    with pytest.warns(RunsLeftOut, match=r"left out 4 of 6 runs that did not finish \(3 failed, 1 unfinished\)"):
        summaries = load_summaries(tmp_path)
    assert sorted(summaries["run"]) == ["done_a", "done_b"]
    left_out = summaries.attrs["left_out"]
    assert left_out == {"failed": ["corrupt_weights", "diverged", "refused"], "unfinished": ["killed"]}
    assert left_out_text(left_out) == "4 runs left out (3 failed, 1 unfinished)"
    assert left_out_text({}) == "no run left out"
    assert (runs["refused"] / "failed").read_text().startswith("notebook failed: RftError: unknown model")

    # On purpose: every run with a configuration, the one without records with none (n_evals 0, NaN results).
    with pytest.warns(RunsLeftOut, match=r"left out 1 of 6 .*\(1 failed\)"):
        everything = load_summaries(tmp_path, include_unfinished=True)
    rows = everything.set_index("run")
    assert sorted(rows.index) == ["corrupt_weights", "diverged", "done_a", "done_b", "killed"]
    assert rows.loc["corrupt_weights", "status"] == "failed" and rows.loc["corrupt_weights", "n_evals"] == 0
    assert rows.loc["killed", "status"] == "unfinished" and rows.loc["diverged", "status"] == "failed"
    with pytest.warns(RunsLeftOut):
        assert len(load_records(tmp_path, include_unfinished=True)) == 2 * 2 + 1 + 1


def test_the_sweep_index_and_the_reports_give_each_run_the_same_status(tmp_path):
    runs = _runs(tmp_path)
    for run in runs.values():
        if (run / "done").exists():
            (run / "notebook.done").touch()
    lock = RunLock(runs["killed"]).acquire()  # a live writer: running, for both
    try:
        jobs = {name: Job(name=name, notebook=tmp_path / "run.ipynb", output=run / "notebook.ipynb", parameters={},
                          kernel="rftlib", cwd=tmp_path, requires=("done",), config={"strategy": "lora"})
                for name, run in runs.items()}
        expected = {run: status for run, status in run_statuses(runs.values()).items()}
        assert {runs[name]: job.status() for name, job in jobs.items()} == expected
        assert expected[runs["killed"]] == "running" and expected[runs["refused"]] == "failed"

        class Sweep:  # what write_index reads of a sweep
            name, path, root, runs, reports = "s", tmp_path / "s.yaml", tmp_path, list(jobs.values()), []

        page = write_index(Sweep).read_text()
        for name, job in jobs.items():
            assert f'{name}</td><td class="{expected[runs[name]]}">{expected[runs[name]]}</td>' in page
    finally:
        lock.release()
    assert jobs["killed"].status() == "unfinished"
    # A run whose training finished but whose notebook did not end (its render) is done for neither.
    (runs["done_a"] / "notebook.done").unlink()
    assert jobs["done_a"].status() != "done"


def test_an_empty_report_says_why_outside_notebooks_too(tmp_path):
    _runs(tmp_path)
    with pytest.warns(RunsLeftOut):
        summaries = load_summaries(tmp_path)
    assert why_empty(summaries, tmp_path) is None
    reason = why_empty(summaries.iloc[:0], tmp_path)
    assert reason.startswith(f"Nothing to report: no finished runs under {tmp_path}. Found 6 runs "
                             f"(2 done, 3 failed, 1 unfinished). Failed: corrupt_weights: RftError: cannot read")
    with pytest.raises(RftError, match="Nothing to report"):
        end_report_if_empty(summaries.iloc[:0], tmp_path)
    assert why_empty(summaries.iloc[:0], tmp_path / "done_a") is not None
    (tmp_path / "nothing").mkdir()
    assert why_empty(summaries.iloc[:0], tmp_path / "nothing") == f"Nothing to report: no run directories under {tmp_path / 'nothing'}."


@pytest.mark.slow
def test_a_report_with_nothing_finished_renders_and_says_why(tmp_path):
    """The RQ2 report (the largest) over a folder where one run failed before its first record and one
    was killed: executed by papermill as a sweep runs it, it ends early, as a success, with the reason."""
    root = tmp_path / "runs"
    runs = _runs(root)
    for name in ("done_a", "done_b", "diverged", "refused"):
        for path in runs[name].iterdir():
            path.unlink()
        runs[name].rmdir()
    output = tmp_path / "reports" / "rq2_pareto.ipynb"
    outcome = execute_job({"name": "rq2", "notebook": str(REPORTS / "rq2_pareto.ipynb"), "output": str(output),
                           "parameters": {"runs_root": str(root)}, "kernel": "rftlib", "cwd": str(tmp_path),
                           "env": {"PYTHONPATH": str(Path(__file__).parent.parent)}})
    assert outcome["status"] == "done", outcome["error"]
    page = output.with_suffix(".html").read_text(encoding="utf-8")
    assert (f"Nothing to report: no finished runs without domains under {root}. Found 2 runs (1 failed, "
            f"1 unfinished). Failed: corrupt_weights: RftError: cannot read weights.safetensors.") in page
    executed = json.loads(output.read_text())
    assert not any(cell.get("outputs") for cell in executed["cells"][4:])  # nothing ran after the reason
