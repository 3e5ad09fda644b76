"""Live tracking in MLflow (rftlib.tracking), against a real tracking server and real sqlite stores,
checked through MlflowClient against the run directories (the source of truth)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import yaml

from rftlib import finetune
from rftlib.cli import main
from rftlib.runs.config import RunConfig
from rftlib.runs.records import TIMING_FIELDS, read_records
from rftlib.sweep import load_sweep
from rftlib.tracking.live import TrackingWarning
from rftlib.tracking.mirror import ID_FILE, record_metrics
from training_helpers import die_after_steps, tiny_config

ROOT = Path(__file__).resolve().parents[1]
SERVER_STARTUP_SECONDS = 240  # ~12 s of CPU, but minutes of wall time on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def client(uri):
    from mlflow import MlflowClient

    return MlflowClient(uri)


def runs_of(uri, experiment):
    found = client(uri).get_experiment_by_name(experiment)
    return client(uri).search_runs([found.experiment_id]) if found else []


def history(uri, run_id, key):
    return [(m.step, m.value) for m in client(uri).get_metric_history(run_id, key)]


def _value(text: str):
    try:
        return json.loads(text)  # params hold JSON text, strings as they are
    except ValueError:
        return text


def assert_mirrors(uri, run, run_dir, redone_timing=False):
    """The MLflow run holds every numeric record value at its step, once; its params are config.yaml
    flattened (less `tracking`). ``redone_timing``: a resumed run redid evaluations MLflow held already,
    so their wall-clock fields are the first attempt's there (the rest is bit-identical)."""
    records = read_records(run_dir / "records.jsonl")
    keys = set().union(*(record_metrics(r) for r in records))
    assert keys >= {"clean_acc", "adv_acc", "adv_acc_pgd", "lr", "epoch", "train_loss", "eval_seconds"}
    for key in keys:
        expected = [(r["step"], float(r[key])) for r in records if record_metrics(r).get(key) is not None]
        logged = history(uri, run.info.run_id, key)
        if redone_timing and key in TIMING_FIELDS:
            assert [s for s, _ in logged] == [s for s, _ in expected], key
        else:
            assert logged == expected, key
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    rebuilt: dict = {}
    for dotted, text in run.data.params.items():
        target, *path = rebuilt, *dotted.split(".")
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = _value(text)
    assert rebuilt == {k: v for k, v in config.items() if k != "tracking"}


# ---- a real tracking server, one per module (its start is the slow part) -------------------------

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``mlflow server`` on a free port of 127.0.0.1 over a sqlite store, stopped by its PID (its process
    group: uvicorn runs in a child)."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(root / "server.log", "w")
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", f"sqlite:///{root}/server.db",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + SERVER_STARTUP_SECONDS
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited ({process.returncode}): {(root / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{uri}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer in time")
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@pytest.mark.slow
@pytest.mark.xdist_group("mlflow-server")
def test_a_run_killed_and_resumed_is_one_mlflow_run_equal_to_its_records(server, tmp_path, monkeypatch):
    # No checkpoint: the resumed run redoes every step MLflow already holds, the hardest case for duplicates.
    config = tiny_config(max_steps=8, schedule=[[None, 4]], checkpoint=False,
                         tracking={"uri": server, "experiment": "resume"})
    run_dir = tmp_path / "runs" / RunConfig.from_dict(config).run_name()
    die_after_steps(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        finetune(config, run_dir=run_dir, progress=False)
    (killed,) = runs_of(server, "resume")
    assert killed.info.status == "KILLED" and killed.data.tags["status"] == "unfinished"
    assert [s for s, _ in history(server, killed.info.run_id, "clean_acc")] == [0, 4]
    monkeypatch.undo()

    result = finetune(config, run_dir=run_dir, progress=False)
    (run,) = runs_of(server, "resume")  # the same MLflow run, found through the id in the run directory
    assert run.info.run_id == killed.info.run_id == json.loads((run_dir / ID_FILE).read_text())[server]
    assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
    assert [s for s, _ in history(server, run.info.run_id, "clean_acc")] == [0, 4, 8]  # no step twice
    assert_mirrors(server, run, run_dir, redone_timing=True)
    tags = run.data.tags
    assert tags["rft.run_hash"] == run_dir.name.rsplit("_", 1)[1]
    assert {tags[k] for k in ("dataset", "strategy", "model", "objective", "status")} == {
        "synthetic", "lora", "vit_tiny_patch16_224", "standard", "done"}
    assert run.data.metrics["summary/pareto_auc"] == result.summary["pareto_auc"]
    artifacts = {a.path for a in client(server).list_artifacts(run.info.run_id)}
    assert artifacts == {"config.yaml", "summary.json"}


# ---- sqlite stores: broken ones, two writers, `rft track`, a sweep's driver ----------------------

def _shared_dir(tmp_path_factory, name: str) -> Path:
    """A folder all xdist workers of this session share (each worker's basetemp is a child of the
    session's), or this session's own without xdist."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name


@pytest.fixture(scope="module")
def unreachable_runs(tmp_path_factory):
    """Two tiny runs tracked to stores that do not work, and the tracking warnings each gave; made once
    per session under a file lock, whichever xdist worker asks first (the tests only copy them)."""
    from rftlib.tracking.store import _file_lock

    shared = _shared_dir(tmp_path_factory, "tracking-unreachable")
    root, made = shared / "study", shared / "warnings.json"
    with _file_lock(shared.with_name(shared.name + ".lock")):
        if not made.exists():
            broken = shared / "broken.db"
            broken.parent.mkdir(parents=True, exist_ok=True)
            broken.write_text("not a database\n" * 100)
            caught = {}
            for name, uri in (("server", f"http://127.0.0.1:{free_port()}"), ("broken", f"sqlite:///{broken}")):
                with warnings.catch_warnings(record=True) as seen:
                    warnings.simplefilter("always")
                    finetune(tiny_config(max_steps=4, schedule=[[None, 2]], tracking={"uri": uri}),
                             run_dir=root / name, progress=False)
                caught[name] = [str(w.message) for w in seen if issubclass(w.category, TrackingWarning)]
            made.write_text(json.dumps(caught))
    return root, json.loads(made.read_text())


@pytest.mark.slow
def test_an_unusable_store_gives_one_warning_and_a_done_run(unreachable_runs):
    root, caught = unreachable_runs
    for name in ("server", "broken"):
        assert len(caught[name]) == 1, caught[name]
        message = caught[name][0]
        assert "\n" not in message and f"rft track {root}" in message
        assert (root / name / "done").exists()
        assert [r["step"] for r in read_records(root / name / "records.jsonl")] == [0, 2, 4]
        assert not (root / name / ID_FILE).exists()
    assert "no MLflow tracking server answers" in caught["server"][0]


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    """One sqlite store for the tests that do not race to create one (its migrations cost seconds)."""
    return f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"


@pytest.mark.slow
def test_rft_track_logs_each_run_once(unreachable_runs, sqlite_store, tmp_path, capsys):
    study = shutil.copytree(unreachable_runs[0], tmp_path / "study")
    uri = sqlite_store
    assert main(["track", str(study), "--uri", uri]) == 0
    assert "tracked 2 runs" in capsys.readouterr().out
    runs = runs_of(uri, "study")  # the experiment: the folder holding the runs
    assert sorted(r.info.run_name for r in runs) == ["broken", "server"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["status"] == "done"
        assert_mirrors(uri, run, study / run.info.run_name)
    counts = {r.info.run_id: len(history(uri, r.info.run_id, "clean_acc")) for r in runs}

    assert main(["track", str(study), "--uri", uri]) == 0
    assert "added 0 records, 0 summaries, 0 notebooks" in capsys.readouterr().out
    again = runs_of(uri, "study")
    assert {r.info.run_id: len(history(uri, r.info.run_id, "clean_acc")) for r in again} == counts


@pytest.mark.slow
def test_a_failed_run_is_failed_in_mlflow_with_its_reason(sqlite_store, tmp_path, monkeypatch):
    from rftlib.training import loop

    real_step = loop.training_step

    def failing_step(*args, step, **kwargs):
        if step == 3:
            raise RuntimeError("the GPU caught fire\nsecond line")
        return real_step(*args, step=step, **kwargs)

    monkeypatch.setattr(loop, "training_step", failing_step)
    run_dir = tmp_path / "failing" / "run"
    with pytest.raises(RuntimeError):
        finetune(tiny_config(max_steps=4, schedule=[[None, 2]], tracking={"uri": sqlite_store}), run_dir=run_dir,
                 progress=False)
    (run,) = runs_of(sqlite_store, "failing")
    assert run.info.status == "FAILED" and run.data.tags["status"] == "failed"
    assert run.data.tags["failure_reason"] == "RuntimeError: the GPU caught fire" == (run_dir / "failed").read_text().strip()
    assert [s for s, _ in history(sqlite_store, run.info.run_id, "clean_acc")] == [0, 2]


WRITER = """
import json, sys, yaml
from pathlib import Path
from rftlib.runs.records import append_record
from rftlib.tracking.live import Tracker
source, run_dir, uri = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
config = yaml.safe_load((run_dir / "config.yaml").read_text())
tracker = Tracker({"uri": uri, "experiment": "concurrent"}, run_dir, config).start()
for line in (source / "records.jsonl").read_text().splitlines():  # as the training loop logs them
    record = json.loads(line)
    append_record(run_dir / "records.jsonl", record)
    tracker.record(record)
for name in ("summary.json", "done"):
    (run_dir / name).write_bytes((source / name).read_bytes())
tracker.end("done")
"""


@pytest.mark.slow
def test_two_concurrent_writers_on_one_new_sqlite_store_both_log_completely(unreachable_runs, tmp_path):
    uri = f"sqlite:///{tmp_path / 'shared.db'}"  # new: both writers race to create and migrate it
    writers = []
    for name in ("server", "broken"):
        source = unreachable_runs[0] / name
        run_dir = tmp_path / "runs" / name
        run_dir.mkdir(parents=True)
        shutil.copy(source / "config.yaml", run_dir)
        writers.append(subprocess.Popen([sys.executable, "-c", WRITER, str(source),
                                         str(run_dir), uri], stderr=subprocess.PIPE, text=True))
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0 and "TrackingWarning" not in err, err[-2000:]
    runs = runs_of(uri, "concurrent")
    assert sorted(r.info.run_name for r in runs) == ["broken", "server"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert_mirrors(uri, run, tmp_path / "runs" / run.info.run_name)


@pytest.mark.slow
def test_a_sweeps_driver_mirrors_its_runs_and_their_notebooks(unreachable_runs, sqlite_store, tmp_path):
    from types import SimpleNamespace

    from rftlib.runs.tracking_options import TrackingOptions
    from rftlib.tracking.sweep import sweep_mirror

    uri = sqlite_store
    study = shutil.copytree(unreachable_runs[0], tmp_path / "study")
    (study / "server" / "notebook.ipynb").write_text("{}")
    (study / "server" / "notebook.html").write_text("<html></html>")
    jobs = [SimpleNamespace(name=name, directory=study / name, output=study / name / "notebook.ipynb")
            for name in ("server", "broken", "never-started")]
    mirror = sweep_mirror(TrackingOptions(uri=uri), "mysweep", jobs).start()
    outcomes = [{"name": job.name, "status": "done"} for job in jobs]
    assert list(mirror.follow(iter(outcomes))) == outcomes
    mirror.close()
    assert mirror.error is None
    runs = {r.info.run_name: r for r in runs_of(uri, "mysweep")}
    assert sorted(runs) == ["broken", "server"]
    for name, run in runs.items():
        assert_mirrors(uri, run, study / name)
    notebook = {a.path for a in client(uri).list_artifacts(runs["server"].info.run_id, "notebook")}
    assert notebook == {"notebook/notebook.ipynb", "notebook/notebook.html"}


# ---- options: bad input, run names, no MLflow import for the CLI ---------------------------------

@pytest.mark.parametrize("override, message", [
    ("tracking.backend=wandb", "unknown tracking backend 'wandb'; valid: mlflow"),
    ("tracking.uri=ftp://host/x", "unknown tracking store scheme 'ftp'"),
    ("tracking.uri=http://", "malformed tracking uri 'http://'"),
    ("tracking.uri=sqlite://store.db", "malformed tracking uri 'sqlite://store.db'"),
    ("tracking.experiment=''", "MLflow refuses the experiment name ''"),
    ("tracking.experiment=" + "x" * 501, "exceeds the maximum length of 500"),
])
def test_bad_tracking_options_are_one_line_before_anything_runs(override, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(ROOT / "params" / "runs" / "digits_tiny.yaml"), "-p", override,
                 "-p", f"output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rft run: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_a_bad_tracking_uri_in_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "gopher://x")
    with pytest.raises(Exception, match="unknown tracking store scheme 'gopher'"):
        RunConfig.from_dict(tiny_config(tracking={}))


def test_tracking_changes_no_run_name(tmp_path):
    config = tiny_config()
    assert RunConfig.from_dict({**config, "tracking": {"experiment": "x"}}).run_name() == \
        RunConfig.from_dict(config).run_name()
    sweep = tmp_path / "s.yaml"
    base = {"notebook": str(ROOT / "notebooks" / "rq1_tradeoff.ipynb"), "output_dir": str(tmp_path),
            "reports": {}, "grid": {"strategy": ["lora", "bitfit"], "dataset": "digits"}}
    sweep.write_text(yaml.safe_dump(base))
    names = [run.name for run in load_sweep(sweep).runs]
    sweep.write_text(yaml.safe_dump({**base, "tracking": {"uri": str(tmp_path / "m.db")}}))
    tracked = load_sweep(sweep)
    assert [run.name for run in tracked.runs] == names
    assert tracked.tracking.uri == str(tmp_path / "m.db")
    sweep.write_text(yaml.safe_dump({**base, "grid": {**base["grid"], "tracking": {}}}))
    with pytest.raises(Exception, match="tracking is a key of the sweep file itself"):
        load_sweep(sweep)


def test_rft_ui_without_a_store_is_one_line(tmp_path, capsys):
    assert main(["ui", "--uri", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rft ui: error: no tracking store at") and err.count("\n") == 1


def test_the_cli_imports_mlflow_only_to_track():
    code = ("import sys; from rftlib.cli import build_parser\n"
            "for name in ('track', 'ui'): build_parser([name])\n"
            "assert not [m for m in sys.modules if m.startswith('mlflow')]")
    subprocess.run([sys.executable, "-c", code], check=True)
