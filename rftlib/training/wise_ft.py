"""WiSE-FT: weight-space ensembles of the start and the fine-tuned model (Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022; mlfoundations/wise-ft).

    θ_α = (1 − α)·θ_start + α·θ_end,   α ∈ [0, 1]

evaluated, for each α, with the run's own evaluation (the same clean, attack, OOD and corruption points,
attacked with the same seeded random starts as the run's final evaluation), so one finished run gives a
whole α-curve on its Pareto plot without retraining. ``rftlib.remedies.interpolation`` says how θ_α is
formed for each strategy (PEFT: the merged update, never the factors).

**The start point.** ``start: probe`` (default for timm models): the pretrained backbone with a
linear-probe head fitted on its frozen features (``rftlib.training.probe_head``, as LP-FT's first stage;
a run with ``lp_ft`` reuses its own probe-stage head). A randomly initialised head would make the
α-curve meaningless: the start point would be at chance, and every θ_α mixes in a random head (wise-ft
issue 9). ``start: initial``: the run's own initial model (its seeded random head, or its probe head
under ``lp_ft``).
``start: zeroshot`` (default for open_clip models, ``rftlib.models.clip``): the zero-shot CLIP classifier,
the WiSE-FT paper's start, head included (under ``lp_ft`` too; under FLYP the text tower is interpolated
and the head follows it). The strategy's own added modules (adapters, LoRA, (IA)³ scales) start from
their initial values.

**What it writes** in the run directory (atomically; an (α, start) already written is not redone):

- ``wise_ft.jsonl``: one JSON row per (α, start), sorted: ``alpha``, ``start``, ``end_step`` (the step
  of the fine-tuned model), ``clean_acc``, ``adv_acc`` (worst case over the attacks), ``adv_acc_<label>``
  per attack, ``ood_acc`` (null without an OOD split), ``<name>_acc`` per extra set (``corruption_<name>_acc``,
  ``val_acc``), ``corruption_acc`` where corruptions are configured, ``n`` (evaluation points) and
  ``outcomes`` (the per-sample file, relative to the run directory);
- ``wise_ft/alpha_<α>.npz`` (``start: probe``) or ``wise_ft/alpha_<α>_<start>.npz``: the per-sample
  outcomes, in the format of ``outcomes/step_*.npz`` (``rftlib.runs.outcomes``), so paired intervals work
  against any evaluation of the run;
- ``wise_ft/probe_head.safetensors``: the probe head, fitted once (runs without ``lp_ft``).

Light to import (no torch): the loader is used by reports.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rftlib.core.atomic import atomic_write_text
from rftlib.core.errors import RftError
from rftlib.runs.records import json_value
from rftlib.remedies.wise_lp_options import DEFAULT_ALPHAS, STARTS

WISE_FT_RECORDS = "wise_ft.jsonl"
WISE_FT_DIR = "wise_ft"
# The leading columns of a row, in this order; per-attack and per-set columns follow.
ROW_FIELDS = ("alpha", "start", "end_step", "clean_acc", "adv_acc", "ood_acc", "n")


def outcome_file(alpha: float, start: str = "probe") -> str:
    """The per-sample outcomes of one θ_α, relative to the run directory."""
    suffix = "" if start == "probe" else f"_{start}"
    return f"{WISE_FT_DIR}/alpha_{float(alpha)!r}{suffix}.npz"


def read_rows(run_dir: str | Path) -> list[dict]:
    """The rows of ``<run_dir>/wise_ft.jsonl`` (none when absent); a damaged file is one RftError line."""
    path = Path(run_dir) / WISE_FT_RECORDS
    if not path.exists():
        return []
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as error:
        raise RftError(f"cannot read {path}: {error}") from None


def write_row(run_dir: str | Path, row: dict, outcomes: dict[str, np.ndarray]) -> None:
    """Add (or replace) the row of ``(row['alpha'], row['start'])``: the outcomes file first, then the
    whole table rewritten atomically, so a row never exists without its per-sample file."""
    from rftlib.runs.outcomes import save_npz
    from rftlib.core.atomic import atomic_write

    run_dir = Path(run_dir)
    relative = outcome_file(row["alpha"], row["start"])
    (run_dir / WISE_FT_DIR).mkdir(parents=True, exist_ok=True)
    flags = {k: np.asarray(v, dtype=bool) for k, v in outcomes.items()}
    atomic_write(run_dir / relative, lambda tmp: save_npz(tmp, flags))
    row = {**row, "outcomes": relative}
    keys = list(ROW_FIELDS) + [k for k in row if k not in ROW_FIELDS]
    row = {k: json_value(row.get(k)) for k in keys}
    rows = [r for r in read_rows(run_dir) if (r["alpha"], r["start"]) != (row["alpha"], row["start"])]
    rows = sorted([*rows, row], key=lambda r: (STARTS.index(r["start"]) if r["start"] in STARTS else len(STARTS),
                                               r["alpha"]))
    atomic_write_text(run_dir / WISE_FT_RECORDS, "".join(json.dumps(r) + "\n" for r in rows))


def done_alphas(run_dir: str | Path, start: str) -> set[float]:
    """The α already evaluated from ``start`` (row and outcomes file both present)."""
    run_dir = Path(run_dir)
    return {r["alpha"] for r in read_rows(run_dir)
            if r["start"] == start and (run_dir / r.get("outcomes", outcome_file(r["alpha"], start))).exists()}


def load_wise_ft(run_dir: str | Path):
    """The WiSE-FT rows of one run as a pandas DataFrame (one row per (α, start), sorted; the columns
    of the module docstring); an empty frame when the run has none."""
    import pandas as pd

    return pd.DataFrame.from_records(read_rows(run_dir))


def read_wise_ft_outcomes(run_dir: str | Path, alpha: float, start: str = "probe") -> dict[str, np.ndarray]:
    """The per-sample outcomes of θ_α (keys as in ``rftlib.runs.outcomes``), for paired intervals."""
    import zipfile

    path = Path(run_dir) / outcome_file(alpha, start)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k].astype(bool) for k in data.files}
    except FileNotFoundError:
        raise RftError(f"no WiSE-FT outcomes for alpha {alpha} from {start!r}: {path} does not exist") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise RftError(f"cannot read {path}: {type(error).__name__}: {error}") from None


# ---- evaluation (torch from here on, imported on use) --------------------------------------------
def evaluate_wise_ft(config, run_dir: str | Path, model, *, task, initial_state: dict, end_state: dict, evaluate,
                     end_step: int, corrupted: bool, device, alphas, start: str = "probe", refine: int = 0,
                     progress: bool = False) -> list[dict]:
    """Evaluate θ_α for each α not yet written from ``start``, with the run's ``evaluate``
    (``rftlib.training.evaluation.Evaluator``) at ``end_step`` (so the attacks' random starts are
    those of the end model's evaluation, and α = 1 reproduces it), and write each row; then ``refine``
    more α, each where the curve so far changes fastest (``rftlib.remedies.wise_grid.next_alpha``; a
    an α written beyond the grid counts). ``model`` (the run's, with its strategy) is left holding
    ``end_state``. Returns the rows of ``start``."""
    from rftlib.data.corruptions import corruption_accuracy
    from rftlib.core.progress import progress_bar
    from rftlib.training.checkpoint import load_trainable_state
    from rftlib.remedies.interpolation import interpolate_states
    from rftlib.remedies.wise_grid import next_alpha

    run_dir = Path(run_dir)
    todo = [float(a) for a in alphas if float(a) not in done_alphas(run_dir, start)]
    # Refinement depends on the grid's results: planned after it, one α at a time.
    rows = [r for r in read_rows(run_dir) if r["start"] == start]
    refined = sum(1 for r in rows if r["alpha"] not in {float(a) for a in alphas})
    if todo or refined < refine:
        start_state = start_point(config, run_dir, initial_state, task=task, start=start, device=device,
                                  progress=progress, zero_shot=getattr(model, "rft_zero_shot", None))
        bar = progress_bar(total=len(todo) + refine - refined, desc="WiSE-FT", unit="alpha", disable=not progress)

        def planned():
            yield from todo
            for _ in range(refine - refined):
                alpha = next_alpha([r for r in read_rows(run_dir) if r["start"] == start])
                if alpha is None or alpha in done_alphas(run_dir, start):
                    return
                yield alpha

        for alpha in planned():
            load_trainable_state(model, interpolate_states(model, start_state, end_state, alpha))
            result = evaluate(model, end_step)
            row = {"alpha": alpha, "start": start, "end_step": end_step, "clean_acc": result.clean_acc,
                   "adv_acc": result.adv_acc, "ood_acc": result.ood_acc, "n": int(len(result.outcomes["clean"])),
                   **{f"adv_acc_{label}": acc for label, acc in result.attack_acc.items()},
                   **{f"{name}_acc": acc for name, acc in result.extra_acc.items()},
                   **({"corruption_acc": corruption_accuracy(result.extra_acc)} if corrupted else {})}
            write_row(run_dir, row, result.outcomes)
            bar.update(1)
        bar.close()
        load_trainable_state(model, end_state)
    return [r for r in read_rows(run_dir) if r["start"] == start]


def start_point(config, run_dir: Path, initial_state: dict, *, task, start: str, device,
                progress: bool = False, zero_shot: dict | None = None) -> dict:
    """The trainable state WiSE-FT starts from: the run's initial state, with (``start: probe``) the
    linear-probe head: the run's own probe-stage head under ``lp_ft``, else one fitted on the frozen
    pretrained backbone with LP-FT's default settings (standard objective), kept in
    ``wise_ft/probe_head.safetensors``; with (``start: zeroshot``) the zero-shot head ``zero_shot`` of an
    open_clip model (``model.rft_zero_shot``, taken when it was built), where the head trains."""
    from rftlib.models import build_model
    from rftlib.core.seeding import preserved_rng
    from rftlib.training.probe_head import PROBE_HEAD, fit_probe_head, load_head, save_head
    from rftlib.remedies.wise_lp_options import LP_FT_DEFAULTS

    if start == "zeroshot":
        if zero_shot is None:
            raise RftError(f"wise_ft start 'zeroshot' needs an open_clip model's zero-shot head; "
                           f"{config.model!r} has none")
        # Under FLYP the head follows the text tower and is not part of the trainable state.
        return {**initial_state, **{k: v for k, v in zero_shot.items() if k in initial_state}}
    if start == "initial" or config.lp_ft is not None:  # an LP-FT run's initial head is its probe head
        return dict(initial_state)
    path = run_dir / WISE_FT_DIR / PROBE_HEAD
    if path.exists():
        head = load_head(path)
    else:
        with preserved_rng():  # the fresh model's random head is replaced; the run's stream is untouched
            pretrained = build_model(config.model, task.num_classes, pretrained=config.pretrained,
                                     weights=config.weights, **config.model_kwargs)
        head = fit_probe_head(pretrained, task.train, steps=LP_FT_DEFAULTS["steps"], lr=LP_FT_DEFAULTS["lr"],
                              batch_size=config.batch_size, seed=config.seed, precision=config.precision,
                              grad_clip=config.grad_clip, betas=config.betas, adam_eps=config.adam_eps,
                              device=device, num_workers=config.num_workers, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_head(path, head)
    if not set(head) <= set(initial_state):
        raise RftError(f"the probe head {sorted(head)} is not part of the run's trainable state")
    return {**initial_state, **head}


__all__ = ["DEFAULT_ALPHAS", "STARTS", "WISE_FT_RECORDS", "WISE_FT_DIR", "evaluate_wise_ft", "load_wise_ft",
           "outcome_file", "read_wise_ft_outcomes", "start_point"]
