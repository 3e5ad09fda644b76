"""The sweep machinery without executing notebooks: parameters, grids, names, params/ files, CLI errors."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from rftlib.cli import main
from rftlib.core.errors import RftError
from rftlib.strategies import STRATEGIES
from rftlib.sweep import load_sweep, resolve
from rftlib.training import params
from rftlib.sweep.launch import check_address, local_slots
from rftlib.sweep.parameters import check_parameters, declared_parameters
from rftlib.sweep.spec import expand_grid

ROOT = Path(__file__).resolve().parents[1]
TINY_RUN = ROOT / "tests" / "notebooks" / "tiny_run.ipynb"
TINY_REPORT = ROOT / "tests" / "notebooks" / "tiny_report.ipynb"
RQ1 = ROOT / "notebooks" / "rq1_tradeoff.ipynb"


def write_sweep(tmp_path: Path, **keys) -> Path:
    """A sweep YAML of the tiny test notebooks, writing under tmp_path, with ``keys`` on top."""
    spec = {"notebook": str(TINY_RUN), "output_dir": str(tmp_path / "out"), "grid": {"x": [1, 2]},
            "reports": {str(TINY_REPORT): {}}, **keys}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


# ---- notebook parameters ------------------------------------------------------------------------

def test_declared_parameters_read_annotations_and_defaults():
    declared = declared_parameters(TINY_RUN)
    assert list(declared) == ["x", "scale", "run_dir"]
    assert declared["x"].default == 0 and declared["scale"].default == 1.0 and declared["run_dir"].default is None


def test_check_parameters_types_and_names():
    assert check_parameters(TINY_RUN, {"x": 3, "scale": 2}) == {"x": 3, "scale": 2.0}
    assert check_parameters(TINY_RUN, {"run_dir": None}) == {"run_dir": None}
    with pytest.raises(RftError, match=r"unknown parameter of tiny_run.ipynb 'scal' \(did you mean 'scale'\?\)"):
        check_parameters(TINY_RUN, {"scal": 2.0})
    with pytest.raises(RftError, match="parameter 'x' of tiny_run.ipynb must be an integer"):
        check_parameters(TINY_RUN, {"x": "three"})


def test_missing_notebook_is_one_line(tmp_path):
    with pytest.raises(RftError, match="notebook not found"):
        declared_parameters(tmp_path / "nope.ipynb")


# ---- grids and names ----------------------------------------------------------------------------

def test_expand_grid_lists_are_axes_and_scalars_fixed():
    points = expand_grid({"a": [1, 2], "b": "x", "c": [True, False]})
    assert points == [{"a": 1, "b": "x", "c": True}, {"a": 1, "b": "x", "c": False},
                      {"a": 2, "b": "x", "c": True}, {"a": 2, "b": "x", "c": False}]
    with pytest.raises(RftError, match="empty"):
        expand_grid({"a": []})


def test_runs_get_stable_distinct_names_and_own_directories(tmp_path):
    path = write_sweep(tmp_path, grid=[{"x": [1, 2]}, {"x": 1, "scale": [0.5]}], parameters={"scale": 1.0})
    sweep = load_sweep(path)
    names = [run.name for run in sweep.runs]
    assert len(names) == len(set(names)) == 3
    assert names[0].startswith("x1_") and names[1].startswith("x2_")
    assert names == [run.name for run in load_sweep(path).runs]  # deterministic
    assert all(run.parameters["run_dir"] == str(sweep.root / run.name) for run in sweep.runs)
    assert sweep.runs[0].parameters["scale"] == 1.0 and sweep.runs[2].parameters["scale"] == 0.5
    assert sweep.reports[0].parameters == {"runs_root": str(sweep.root)}


def test_identical_points_of_two_grids_are_one_run_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match=r"grid point \{'x': 2\} repeats run x2_[0-9a-f]{8}: it runs once"):
        sweep = load_sweep(write_sweep(tmp_path, grid=[{"x": [1, 2]}, {"x": [2, 3]}]))
    assert len(sweep.runs) == 3


def test_valid_keys_are_listed_once(tmp_path):
    with pytest.raises(RftError) as error:
        load_sweep(write_sweep(tmp_path, notebook=str(RQ1), reports={}, grid={"lrr": [0.1]}))
    valid = str(error.value).split("valid: ")[1].split(", ")
    assert "strategy" in valid and "lr" in valid and len(valid) == len(set(valid))


# ---- bad sweep files: errors before anything runs ------------------------------------------------

@pytest.mark.parametrize("keys, message", [
    ({"gird": {"x": [1]}}, r"unknown sweep key 'gird' \(did you mean 'grid'\?\)"),
    ({"grid": {"y": [1]}}, r"unknown sweep parameter 'y'; valid: scale, x"),
    ({"grid": {"x": [1], "run_dir": "/tmp"}}, "'run_dir' is set by the sweep"),
    ({"grid": {"x": ["one"]}}, "must be an integer"),
    ({"notebook": "missing.ipynb"}, "notebook not found: .*missing.ipynb"),
    ({"reports": {"missing.ipynb": {}}}, "notebook not found"),
    ({"reports": {str(TINY_REPORT): {"runs_rot": "x"}}}, r"did you mean 'runs_root'"),
    ({"resources": {"gpu": 1}}, r"unknown resources key 'gpu' \(did you mean 'gpus'\?\)"),
    ({"name": "a b"}, "sweep name 'a b'"),
])
def test_bad_sweep_files(tmp_path, keys, message):
    with pytest.raises(RftError, match=message):
        load_sweep(write_sweep(tmp_path, **keys))


def test_notebook_without_run_dir_parameter(tmp_path):
    with pytest.raises(RftError, match="must declare the parameter 'run_dir'"):
        load_sweep(write_sweep(tmp_path, notebook=str(TINY_REPORT), grid={"runs_root": "x"}))


def test_cli_errors_are_one_line(tmp_path, capsys):
    path = write_sweep(tmp_path)
    assert main(["sweep", str(path), "--launcher", "rey"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "rft sweep: error: unknown launcher 'rey' (did you mean 'ray'?); valid: local, ray, slurm"
    assert main(["sweep", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"sweep file not found: {tmp_path / 'none.yaml'}")
    assert main(["sweep", str(path), "--address", "1.2.3.4:1"]) == 2
    assert "--address is for --launcher ray" in capsys.readouterr().err
    assert main(["sweep", str(path), "--jobs", "0"]) == 2
    assert capsys.readouterr().err.strip() == "rft sweep: error: --jobs must be at least 1, got 0"
    assert main(["sweep", str(path), "--launcher", "ray", "--address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rft sweep: error: cannot reach the Ray cluster at 127.0.0.1:1") and "\n" not in err
    assert not (tmp_path / "out").exists()  # nothing ran


@pytest.mark.parametrize("block, flags, error", [
    ({}, ["--slurm", "timeout_min=0"], "slurm timeout_min must be an integer >= 1, got 0"),
    ({}, ["--slurm", "partion=gpu"], "unknown slurm key 'partion' (did you mean 'partition'?); valid: account,"),
    ({"gpus_per_node": "two"}, [], "slurm key 'gpus_per_node' must be int or NoneType, got 'two'"),
    ({"mem_gb": -1}, [], "slurm mem_gb must be a finite number > 0, got -1.0"),
    ({"array_parallelism": 0}, [], "slurm array_parallelism must be an integer >= 1, got 0"),
    ({"timeout_min": 2}, ["--slurm", "signal_delay_s=120"], "slurm signal_delay_s (120) must be shorter than the time "
                                                           "limit (timeout_min 2 = 120 s)"),
    ({"partition": "gpu a100"}, [], "slurm partition must be a name without spaces, got 'gpu a100'"),
    ({}, ["--slurm", "extra.array=0-3"], "slurm extra: 'array' is set by rftlib"),
    ({}, ["--slurm", "extra.time=10"], "slurm extra: 'time' is set by rftlib; use the slurm key 'timeout_min'"),
    ({"extra": {"--mail-type": "END"}}, [], "slurm extra: '--mail-type' is not an sbatch option name"),
    ({}, ["--slurm", "partition"], "--slurm: an override is key=value, got 'partition'"),
    ("gpu", [], "sweep key 'slurm' must be dict or NoneType, got 'gpu'"),
])
def test_bad_slurm_values_are_refused_in_one_line_before_anything_is_submitted(tmp_path, capsys, block, flags, error):
    """Checked when the sweep is loaded, dry run included, without a cluster (what the cluster refuses is
    tested against one in test_slurm.py)."""
    path = write_sweep(tmp_path, slurm=block)
    for dry in ([], ["--dry-run"]):
        assert main(["sweep", str(path), "--launcher", "slurm", *flags, *dry]) == 2
        captured = capsys.readouterr()
        assert captured.err.startswith(f"rft sweep: error: {error}") and len(captured.err.splitlines()) == 1
        assert not captured.out and not (tmp_path / "out").exists()


def test_slurm_flags_need_the_slurm_launcher(tmp_path, capsys):
    path = write_sweep(tmp_path)
    for flags in (["--slurm", "partition=gpu"], ["--no-wait"]):
        assert main(["sweep", str(path), *flags]) == 2
        assert capsys.readouterr().err.strip() == f"rft sweep: error: {flags[0]} is for --launcher slurm"
    assert not (tmp_path / "out").exists()


def test_slurm_options_become_the_jobs_request():
    from rftlib.sweep.slurm_options import slurm_options

    options = slurm_options({"partition": "gpu", "gpus_per_node": 1, "mem_gb": 1.5, "extra": {"exclusive": True}},
                            ["timeout_min=30", "extra.mail-type=END", "setup=[module load cuda]"])
    assert options.executor_parameters(resources_cpus=2.5, resources_gpus=0) == {
        "time": 30, "cpus_per_task": 3, "signal_delay_s": 120, "partition": "gpu", "gres": "gpu:1", "mem": "1536MB",
        "setup": ["module load cuda"], "additional_parameters": {"exclusive": True, "mail-type": "END"}}
    assert slurm_options(None).executor_parameters(1, 2)["gres"] == "gpu:2"  # from resources.gpus


def test_unreachable_ray_address_fails_at_once():
    start = time.monotonic()
    with pytest.raises(RftError, match="cannot reach the Ray cluster at 127.0.0.1:1"):
        check_address("127.0.0.1:1")
    assert time.monotonic() - start < 6


def test_dry_run_lists_runs_and_runs_nothing(tmp_path, capsys):
    path = write_sweep(tmp_path)
    assert main(["sweep", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sweep tiny: 2 runs" in out and "(2 todo)" in out and "estimated cost" in out
    assert out.count("todo     x") == 2
    assert not (tmp_path / "out").exists()


# ---- local job slots ----------------------------------------------------------------------------

def test_local_slots_share_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    slots = local_slots(2, threads=2)
    assert [s["OMP_NUM_THREADS"] for s in slots] == ["2", "2"]
    assert [s["CUDA_VISIBLE_DEVICES"] for s in slots] == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert all("CUDA_VISIBLE_DEVICES" not in s and s["OMP_NUM_THREADS"] == "1" for s in local_slots(8))


# ---- params/: strategy hyperparameters and profiles ---------------------------------------------

@pytest.mark.parametrize("profile", ["paper", "demo"])
def test_every_strategy_resolves_under_every_profile(profile):
    for strategy in STRATEGIES:
        config = resolve(profile, strategy=strategy, dataset="digits")
        assert config["strategy"] == strategy and config["lr"] > 0


def test_profile_layers_and_errors():
    paper = resolve("paper", strategy="full", dataset="cifar10")
    assert (paper["lr"], paper["weight_decay"], paper["warmup_steps"]) == (2e-5, 0.01, 0)
    lora = resolve("paper", strategy="lora", dataset="cifar10", strategy_options={"r": 4})
    assert lora["strategy_options"]["r"] == 4 and lora["strategy_options"]["alpha"] == 8  # merged, not replaced
    demo = resolve("demo", strategy="lora", dataset="digits")
    assert demo["upstream"] and demo["model_kwargs"] == demo["upstream"]["model_kwargs"]
    with pytest.raises(RftError, match=r"unknown profile 'dmeo' \(did you mean 'demo'\?\)"):
        resolve("dmeo")
    with pytest.raises(RftError, match=r"unknown run config field 'lrr' \(did you mean 'lr'\?\)"):
        resolve("paper", lrr=1.0)
    with pytest.raises(RftError, match="unknown strategy"):
        resolve("paper", strategy="lorra")
    with pytest.raises(RftError, match="unknown upstream option"):
        resolve("demo", upstream={"stepz": 3})
    with pytest.raises(RftError, match=r"^upstream: max_steps must be"):  # the pretraining run's own checks
        resolve("demo", upstream={"steps": 0})


def test_profiles_are_listed():
    assert {"paper", "demo"} <= set(params.profiles())


def test_paper_sweep_is_the_papers_231_models():
    sweep = load_sweep(ROOT / "params" / "sweeps" / "paper.yaml")
    assert len(sweep.runs) == 231
    assert len({run.name for run in sweep.runs}) == 231
    domainnet = [run for run in sweep.runs if run.config["dataset"] == "domainnet"]
    assert len(domainnet) == 7 * 6 * 3
    assert all(run.config["model"] == "vit_base_patch16_224.orig_in21k" for run in sweep.runs)
    assert sweep.resources.gpus == 1


def test_demo_sweep_is_five_strategies_on_three_tasks_and_the_controls():
    sweep = load_sweep(ROOT / "params" / "sweeps" / "demo.yaml")
    # digits, synthetic, domain shift, the controls (+/-), the plain pgd_at run of the eps-schedule pair, and
    # the RQ4 remedy runs, each beside its plain counterpart
    assert len(sweep.runs) == 5 + 5 + 3 + 3 + 1 + 1 + 5
    from rftlib.analysis.remedies import base_key, remedy_label

    plain = {base_key(run.config) for run in sweep.runs if remedy_label(run.config) == "plain"}
    remedies = [run for run in sweep.runs if remedy_label(run.config) != "plain"]
    assert len(remedies) == 5 and all(base_key(run.config) in plain for run in remedies)
    assert sorted(remedy_label(run.config) for run in remedies) == ["eps_schedule", "l2_sp"] + ["robust_val"] * 3
    assert {run.config["strategy"] for run in sweep.runs} == {"full", "linear_probe", "lora", "bitfit", "compacter"}
    assert [r.name for r in sweep.reports] == ["rq2_pareto", "rq3_ood", "rq4_remedies", "theory"]
    assert len(sweep.upstreams) == 2  # the robust synthetic upstream, and the feature model's robust patterns
    controls = [run for run in sweep.runs if run.config["dataset"] == "feature_model" and remedy_label(run.config) == "plain"]
    assert sorted(run.config["dataset_options"]["nonrobust_strength"] for run in controls) == [0.0] + [4.0] * 3
    # A dotted axis is named in the run directory, so the two controls are told apart at a glance.
    assert {run.name.split("_s0_")[1].rsplit("_", 1)[0] for run in controls} == {
        "nonrobust_strength4.0", "nonrobust_strength0.0"}
    upstream = controls[0].config["upstream"]
    assert upstream["dataset"] == "feature_model" and upstream["dataset_options"]["nonrobust_strength"] == 0
    assert all(run.config["upstream"].get("objective", "standard") == "standard" for run in controls)
    # Every other task starts from the robust upstream; digits is attacked at 12/255, 300 steps, all test points.
    tasks = [run for run in sweep.runs if run.config["dataset"] != "feature_model"]
    assert all(run.config["upstream"]["objective"] == "pgd_at" for run in tasks)
    digits = [run.config for run in tasks if run.config["dataset"] == "digits"]
    assert all(c["attack"]["eps"] == 0.047 and c["eval_size"] == "all" for c in digits)
    assert sorted(c["max_steps"] for c in digits) == [150, 150] + [300] * 6  # the eps-schedule pair is shorter
    # WiSE-FT, refined, on the positive control's plain full and LoRA runs (and L2-SP's).
    refined = sorted(run.config["strategy"] for run in sweep.runs if (run.config.get("wise_ft") or {}).get("refine"))
    assert refined == ["full", "full", "lora"]


def test_sweep_keys_reach_run_config_fields(tmp_path):
    path = write_sweep(tmp_path, notebook=str(RQ1), reports={},
                       parameters={"profile": "demo", "max_steps": 3, "attack.steps": 1},
                       grid={"strategy": ["lora", "bitfit"], "dataset": "digits", "lr": [0.1]})
    runs = load_sweep(path).runs
    assert [run.parameters["strategy"] for run in runs] == ["lora", "bitfit"]
    assert runs[0].parameters["overrides"] == {"max_steps": 3, "attack": {"steps": 1}, "lr": 0.1}
    assert runs[0].config["attack"]["steps"] == 1 and runs[0].config["lr"] == 0.1
    assert runs[0].name.startswith("digits_lora_s0_lr0.1_")
    with pytest.raises(RftError, match=r"unknown sweep parameter 'lrr' \(did you mean 'lr'\?\)"):
        load_sweep(write_sweep(tmp_path, notebook=str(RQ1), reports={}, grid={"lrr": [0.1]}))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_yaml_matches_the_library_defaults(strategy):
    """params/strategies/*.yaml spell out the paper's hyperparameters for sweeps; the library's own
    defaults are the same numbers, so a run from Python and a run from a sweep are the same run."""
    import dataclasses

    from rftlib.strategies import strategy_config, training_defaults

    values = yaml.safe_load((Path(__file__).parents[1] / "params" / "strategies" / f"{strategy}.yaml").read_text()) or {}
    options = values.pop("strategy_options", {}) or {}
    assert values == training_defaults(strategy)
    library = dataclasses.asdict(strategy_config(strategy))
    assert {k: (tuple(v) if isinstance(v, list) else v) for k, v in options.items()} == \
        {k: library[k] for k in options}


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n"])
def test_an_address_that_is_not_a_ray_cluster_fails_in_seconds(reply):
    """Something listens (a silent service, a web server) but it is not Ray: ray.init would retry
    "Failed to get cluster ID from GCS server" for minutes."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def serve():
        connection, _ = server.accept()
        accepted.append(connection)
        if reply:
            connection.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    address = f"127.0.0.1:{server.getsockname()[1]}"
    start = time.monotonic()
    try:
        with pytest.raises(RftError, match=f"{address} accepts connections but does not answer as a Ray cluster"):
            check_address(address)
    finally:
        server.close()
        for connection in accepted:
            connection.close()
    assert time.monotonic() - start < 5


def test_strategy_yaml_says_where_the_peft_lr_comes_from():
    """The released command line defaults to lr 2e-5 / wd 0.01 for every strategy; 5e-3 / 0 are only in
    its code comments, and a file saying "released code" beside 5e-3 must say so."""
    for path in sorted((ROOT / "params" / "strategies").glob("*.yaml")):
        header = " ".join(line for line in path.read_text().splitlines() if line.startswith("#"))
        if "5e-3" in header and "released" in header.lower():
            assert "comments" in header and "2e-5" in header, path.name
