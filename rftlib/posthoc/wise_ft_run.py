"""WiSE-FT on a finished run directory (``rft wise-ft RUN_DIR``): the run's initial model is rebuilt
exactly as the run built it, its result loaded, and the α-curve evaluated as the run's end model was
(``rftlib.training.wise_ft`` holds the interpolation, its rows and their loader).

This sits a layer above the training loop, which it reuses to rebuild the run; the loop itself calls
only ``rftlib.training.wise_ft`` (for ``wise_ft:`` at the end of a run).
"""
from __future__ import annotations

import json
from pathlib import Path

from rftlib.core.errors import RftError
from rftlib.training.wise_ft import WISE_FT_RECORDS, done_alphas, evaluate_wise_ft, load_wise_ft


def wise_ft(run_dir: str | Path, alphas=None, start: str | None = None, *, progress: bool = True):
    """WiSE-FT on a finished run directory: θ_α between the start point (``probe``, ``initial`` or
    ``zeroshot``; default: the run's, else zeroshot for open_clip models and probe otherwise; see
    ``rftlib.training.wise_ft``) and the run's result (``trainable.safetensors``) for each α
    (default: the run's ``wise_ft`` alphas and its ``refine``, else 0, 0.25, 0.5, 0.75, 1), evaluated as
    the run's end model was. Resumable: an (α, start) already written is not redone. Returns ``load_wise_ft(run_dir)``
    restricted to ``start``."""
    from rftlib.runs.config import RunConfig
    from rftlib.runs.records import CONFIG, DONE, SUMMARY
    from rftlib.runs.rundir import RunLock
    from rftlib.remedies.wise_lp_options import check_alphas, check_start, default_start

    run_dir = Path(run_dir)
    configured, stored = None, {}
    if (run_dir / CONFIG).exists():
        import yaml

        stored = yaml.safe_load((run_dir / CONFIG).read_text()) or {}
        configured = stored.get("wise_ft")
    model, objective = stored.get("model"), stored.get("objective")
    refine = (configured or {}).get("refine", 0) if alphas is None else 0
    alphas = check_alphas(alphas if alphas is not None else (configured or {}).get("alphas"))
    start = check_start(start if start is not None else (configured or {}).get("start", default_start(model)),
                        model, objective)
    if not (run_dir / DONE).exists():
        raise RftError(f"{run_dir} is not a finished run (no {DONE} marker); WiSE-FT interpolates towards a run's result")
    config = RunConfig.from_yaml(run_dir / CONFIG).resolved()
    end_step = json.loads((run_dir / SUMMARY).read_text()).get("final", {}).get("step")
    with RunLock(run_dir):
        if not set(alphas) - done_alphas(run_dir, start) and not refine:
            return _rows_frame(run_dir, start)
        _evaluate_finished_run(config, run_dir, alphas=alphas, start=start, end_step=end_step, refine=refine,
                               progress=progress)
    return _rows_frame(run_dir, start)


def _rows_frame(run_dir: Path, start: str):
    frame = load_wise_ft(run_dir)
    return frame[frame["start"] == start].reset_index(drop=True) if len(frame) else frame


def _evaluate_finished_run(config, run_dir: Path, *, alphas, start: str, end_step: int, refine: int = 0,
                           progress: bool) -> None:
    """Rebuild the run's initial model exactly as the run did (same seed, same order of random draws),
    load its result, and evaluate the α-curve."""
    from safetensors.torch import load_file

    from rftlib.core.devices import resolve_device
    from rftlib.core.seeding import seed_everything
    from rftlib.training.checkpoint import FINAL_WEIGHTS, load_trainable_state, trainable_state
    from rftlib.training.loop import build_run_model, run_evaluator

    device = resolve_device(config.device)
    seed_everything(config.seed)
    task, model = build_run_model(config, run_dir, device, progress)
    initial_state = trainable_state(model)
    end_state = load_file(str(run_dir / FINAL_WEIGHTS))
    load_trainable_state(model, end_state)
    model.to(device)
    evaluate, corrupted = run_evaluator(config, task, run_dir, device, progress)
    evaluate_wise_ft(config, run_dir, model, task=task, initial_state=initial_state,
                     end_state=trainable_state(model), evaluate=evaluate, end_step=end_step,
                     corrupted=corrupted is not None, device=device, alphas=alphas, start=start, refine=refine,
                     progress=progress)


__all__ = ["wise_ft", "WISE_FT_RECORDS"]
