"""Shared test set-up: offline, CPU-sized, deterministic."""
import os

# Before anything imports huggingface_hub: hub look-ups fail at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)  # two workers share two cores


@pytest.fixture
def tiny_vit_kwargs():
    """A ViT small enough for CPU tests: timm's vit_tiny at 32 px with 4 px patches."""
    return dict(name="vit_tiny_patch16_224", model_kwargs=dict(img_size=32, patch_size=4))


# The longest tests (seconds of wall time under `-n 2`, measured), started first: with the scheduler's
# reordering off (below), xdist hands out work units in collection order, and a long test that starts
# last leaves the other worker idle while it runs. The Ray group waits on its cluster much of the time:
# started early, the other worker's tests fill those waits.
LONGEST_FIRST = (
    # The SLURM group, ~100 in all, much of it waiting on SLURM (requeues, a time limit): started first, the
    # other worker's tests fill those waits. Its first test starts the group's background sweeps.
    "tests/test_slurm.py::test_a_cancelled_job_and_a_run_requeued_too_often_are_failed_with_their_reasons_and_the_other_run_ends",
    "tests/test_notebooks.py::test_every_notebook_runs_in_a_tiny_sweep",  # ~80: eight kernels
    "tests/test_ray.py::test_two_run_sweep_on_a_ray_cluster",  # ~100 with the next, half of it waiting
    "tests/test_ray.py::test_a_run_on_a_lost_node_is_retried_elsewhere_and_resumes",
    "tests/test_tracking.py::test_a_run_killed_and_resumed_is_one_mlflow_run_equal_to_its_records",  # ~25: a server
    "tests/test_controls.py::test_positive_control_drop_is_significant_and_negative_controls_is_not",  # ~18
    "tests/test_objectives.py::test_pgd_at_ends_more_robust_than_standard_training",  # ~17
    "tests/test_digits_tradeoff.py::test_full_fine_tuning_on_digits_rises_then_falls[0]",  # ~15 each
    "tests/test_digits_tradeoff.py::test_full_fine_tuning_on_digits_rises_then_falls[1]",
    "tests/test_digits_tradeoff.py::test_full_fine_tuning_on_digits_rises_then_falls[2]",
    "tests/test_notebooks.py::test_local_sweep_fails_one_run_then_redoes_only_it",  # ~15: five kernels
    "tests/test_wise_ft.py::test_wise_ft_recovers_robustness_on_the_positive_control",  # ~14
    "tests/test_tracking.py::test_two_concurrent_writers_on_one_new_sqlite_store_both_log_completely",  # ~12
)


def pytest_configure(config):
    # `--dist loadgroup` would otherwise send the largest groups first, whatever their cost.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {nodeid: i for i, nodeid in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid, len(rank)))  # stable: the rest keep their order
    if getattr(config.option, "loadgroup", False):  # an xdist worker under --dist loadgroup
        _mark_xdist_groups(items)


def _mark_xdist_groups(items):
    """Append ``@group`` to each grouped test's id, as pytest-xdist does: xdist 3.8 writes it to the
    item's ``_nodeid``, which pytest 9.2 no longer reads, so without this every ``xdist_group`` is
    silently ignored (pytest-dev/pytest-xdist#1386): both workers would start a Ray cluster and train
    the digits ViT."""
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid.rpartition("]")[2]:
            if hasattr(item, "_id"):  # pytest >= 9.2: a structured id, printed as the string it parses
                from _pytest.nodeid import NodeId

                item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")
            else:
                item._nodeid = f"{item.nodeid}@{'_'.join(groups)}"
