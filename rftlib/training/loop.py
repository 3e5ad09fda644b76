"""One fine-tuning run with continuous evaluation: a plain PyTorch loop, readable top to bottom.

    config -> data, model, strategy -> AdamW + schedule -> for each step: train; at scheduled steps
    evaluate (clean, attacks, OOD), write per-sample outcomes, append a record, checkpoint
    -> summary.json, done

Everything the run writes lands in its directory as it goes, and a run killed at any moment resumes
from its last checkpoint with records identical to an uninterrupted run.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from rftlib.core.atomic import atomic_write_text
from rftlib.runs.config import RunConfig
from rftlib.data import eval_subset, load_task
from rftlib.data.corruptions import CACHE_DIR, check_image_size, corrupted_sets, corruption_accuracy, severity_accuracies
from rftlib.core.devices import resolve_device
from rftlib.core.errors import RftError
from rftlib.models import build_model
from rftlib.models.clip_names import is_clip_name
from rftlib.core.numerics import force_resume_default, numerics_environment, pin_numerics
from rftlib.runs.outcomes import drop_outcomes_after, read_step_outcomes, write_outcomes
from rftlib.stats.pareto import pareto_auc
from rftlib.runs.preflight import check_task, check_weights_here
from rftlib.core.progress import progress_bar
from rftlib.runs.records import DONE, RECORDS, SUMMARY, TIMING_FIELDS, append_record, keep_records_up_to, read_records
from rftlib.attacks.robustness_curve import curve_summary
from rftlib.runs.rundir import CHECKPOINT, claim, failure_recorded
from rftlib.runs.schedule import EvalSchedule
from rftlib.tracking.live import tracked
from rftlib.core.seeding import derived_seed, seed_everything
from rftlib.strategies import apply_strategy, trainable_parameters
from rftlib.training.best import BEST_WEIGHTS, VAL_ADV_KEY, VAL_KEY, VAL_SET, BestWeights, FrontierWeights
from rftlib.training.checkpoint import load_checkpoint, save_checkpoint, save_final_weights, trainable_state
from rftlib.training.evaluation import Evaluator
from rftlib.training.final_autoattack import PEAK_WEIGHTS, peak_key, run_final_autoattack
from rftlib.training.objectives import make_objective
from rftlib.training.optim import make_optimizer, make_scheduler
from rftlib.training.step import training_step
from rftlib.training.zero_shot import clip_build_options, head_state, run_prompts


class TrainingDiverged(RftError):
    """The loss became NaN or infinite; the records so far are kept and the run is not marked done."""


@dataclass
class RunResult:
    run_dir: Path
    records: pd.DataFrame
    summary: dict


def finetune(config: RunConfig | dict | str | Path, *, run_dir: str | Path | None = None,
             progress: bool = True, force_resume: bool | None = None) -> RunResult:
    """Fine-tune one (model, strategy, dataset, seed) with continuous evaluation.

    ``config``: a RunConfig, a mapping of its fields, or a YAML path. ``run_dir``: where to write;
    default ``<output_dir>/<config.run_name()>``. A finished run is loaded, not redone; an unfinished
    one with the same configuration resumes from its last checkpoint, in the same numerics
    environment (``rftlib.core.numerics``) unless ``force_resume`` (default: $RFT_FORCE_RESUME). The run
    holds the directory's lock throughout: a second writer is refused (``rftlib.runs.rundir``).
    """
    config = RunConfig.coerce(config).resolved()  # every value checked before anything is written
    run_dir = Path(run_dir) if run_dir is not None else Path(config.output_dir) / config.run_name()
    # What only this machine or the data can tell (the device is here; a local copy's labels and class
    # count) is checked before the directory is written; a finished run is loaded without either.
    # Loading draws on no global random state (every split is seeded on its own), so loading before
    # the claim leaves the records unchanged.
    task = None if (run_dir / DONE).exists() else _load_checked_task(config)
    with claim(run_dir, config):
        if (run_dir / DONE).exists():
            return load_result(run_dir)
        # A refused resume is recorded as a failure too (with its reason), so every reader agrees on its status.
        # The tracker is outside failure_recorded: a failed run's MLflow run gets the reason that block records.
        with tracked(config.tracking, run_dir, config.to_dict()) as tracker, failure_recorded(run_dir):
            pin_numerics(run_dir, numerics_environment(resolve_device(config.device), config.precision),
                         resuming=(run_dir / CHECKPOINT).exists(),
                         force=force_resume_default() if force_resume is None else force_resume)
            return _train(config, run_dir, progress, task or _load_checked_task(config), tracker)


def _load_checked_task(config: RunConfig):
    """The run's task, loaded and checked against the configuration (``rftlib.runs.preflight.check_task``),
    once the device is known to be here (RunConfig checks only its name)."""
    resolve_device(config.device)
    check_weights_here(config.model, config.pretrained, config.weights)  # hub weights cached or downloadable
    image_size = config.image_size or model_image_size(config, config.model_kwargs)
    if config.corruptions is not None:
        check_image_size(image_size)
    task = load_task(config.dataset, image_size=image_size, seed=config.seed, val_fraction=config.val_fraction,
                     domain=config.domain, **config.dataset_options)
    check_task(config, task)
    return task


def _train(config: RunConfig, run_dir: Path, progress: bool, task, tracker) -> RunResult:
    """The run itself, on its loaded ``task``, in its claimed and locked directory."""
    device = resolve_device(config.device)
    seed_everything(config.seed)

    # ---- model, strategy ----------------------------------------------------------------------
    task, model = build_run_model(config, run_dir, device, progress, task=task)
    initial_state = trainable_state(model) if config.wise_ft is not None else None  # WiSE-FT's start
    model.to(device).train()
    trainable, total = trainable_parameters(model)

    steps_per_epoch = math.ceil(len(task.train) / config.batch_size)
    total_steps = config.max_steps or max(1, round(config.epochs * steps_per_epoch))
    eval_steps = set(EvalSchedule.from_spec(config.schedule).steps(total_steps))
    optimizer = make_optimizer(model, lr=config.lr, weight_decay=config.weight_decay, betas=config.betas,
                               eps=config.adam_eps)
    scheduler = make_scheduler(optimizer, kind=config.lr_schedule, warmup_steps=config.warmup_steps,
                               total_steps=total_steps)
    best_val = config.final_model == "best_val"
    robust_val = config.final_model == "robust_val"
    objective = make_objective(config.objective, seed=config.seed, total_steps=total_steps,
                               **config.objective_options)
    if config.l2_sp is not None:  # the starting point is taken here, before any checkpoint is loaded
        from rftlib.remedies.l2_sp import L2SP, WithL2SP, l2_sp_options

        objective = WithL2SP(objective, L2SP(model, **vars(l2_sp_options(config.l2_sp))))
    evaluate, corrupted = run_evaluator(config, task, run_dir, device, progress, total_steps=total_steps)
    # Robust selection attacks the validation subset too: an Evaluator of its own (clean and robust).
    evaluate_val = (Evaluator(test=eval_subset(task.val, config.eval_size, config.seed), ood=None, size="all",
                              seed=config.seed, batch_size=config.eval_batch_size, attacks=config.attack_specs(),
                              device=device, precision=config.precision, num_workers=config.num_workers)
                    if robust_val else None)

    # ---- resume -------------------------------------------------------------------------------
    resumed = load_checkpoint(run_dir, model=model, optimizer=optimizer, scheduler=scheduler)
    step = resumed["step"] if resumed else 0
    train_seconds = resumed["train_seconds"] if resumed else 0.0
    records = keep_records_up_to(run_dir / RECORDS, step if resumed else -1)
    drop_outcomes_after(run_dir, step if resumed else -1)
    resumed_step = step if resumed else None
    best = BestWeights(run_dir, BEST_WEIGHTS, VAL_KEY, records, model, resumed_step) if best_val else None
    if robust_val:
        best = FrontierWeights(run_dir, records, model, resumed_step, config.selection_tolerance)
    peak_record_key, peak_outcome_key, peak_eps = peak_key(evaluate.attack_specs)
    peak = (BestWeights(run_dir, PEAK_WEIGHTS, peak_record_key, records, model, resumed_step)
            if config.final_autoattack is not None else None)

    # ---- the loop -----------------------------------------------------------------------------
    loss_sum, correct, seen, steps_since_eval, penalty_sum = 0.0, 0, 0, 0, 0.0
    bar = progress_bar(total=total_steps, initial=step, desc=run_dir.name, unit="step", disable=not progress)
    shown = {}  # the bar's postfix: the last loss and the last evaluation's clean / robust accuracy

    def evaluate_and_record():
        nonlocal loss_sum, correct, seen, steps_since_eval, penalty_sum
        result = evaluate(model, step)
        val = evaluate_val(model, step) if evaluate_val is not None else None
        record = {
            "step": step,
            "epoch": step / steps_per_epoch,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": loss_sum / steps_since_eval if steps_since_eval else None,
            "train_acc": correct / seen if seen else None,
            "clean_acc": result.clean_acc,
            "adv_acc": result.adv_acc,
            "ood_acc": result.ood_acc,
            "eval_seconds": result.seconds,
            "train_seconds": train_seconds,
            **{f"adv_acc_{label}": acc for label, acc in result.attack_acc.items()},
            **{f"{name}_acc": acc for name, acc in result.extra_acc.items()},
            **({"corruption_acc": corruption_accuracy(result.extra_acc)} if corrupted else {}),
            **(severity_accuracies(result.outcomes, config.corruptions) if corrupted else {}),
            **result.curve,
            **({VAL_KEY: val.clean_acc, VAL_ADV_KEY: val.adv_acc} if val is not None else {}),
            **({"l2_sp_penalty": penalty_sum / steps_since_eval if steps_since_eval else None}
               if config.l2_sp is not None else {}),
        }
        outcomes = {**result.outcomes, **({VAL_SET: val.outcomes["clean"], f"{VAL_SET}_robust": val.outcomes["robust"]}
                                          if val is not None else {})}
        # Outcomes first: a record is never appended without its per-sample file.
        write_outcomes(run_dir, step, outcomes)
        append_record(run_dir / RECORDS, record)
        records.append(record)
        tracker.record(record)  # mirrored live when the run has `tracking`; never raises
        loss_sum, correct, seen, steps_since_eval, penalty_sum = 0.0, 0, 0, 0, 0.0
        if config.checkpoint:
            save_checkpoint(run_dir, model=model, optimizer=optimizer, scheduler=scheduler, step=step,
                            extra={"train_seconds": train_seconds})
        for keeper in (best, peak):  # after the checkpoint: see BestWeights
            if keeper is not None:
                keeper.update(model, record)
        shown.update(clean=f"{result.clean_acc:.3f}", adv=f"{result.adv_acc:.3f}")
        bar.set_postfix(shown, refresh=False)

    if step == 0 and 0 in eval_steps and not resumed:
        evaluate_and_record()
    while step < total_steps:
        for images, labels in _epoch_batches(task.train, config, steps_per_epoch, step):
            tic = time.perf_counter()
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss, logits = training_step(model, optimizer, images, labels, precision=config.precision,
                                         grad_clip=config.grad_clip, objective=objective, step=step)
            if not torch.isfinite(loss):
                bar.close()
                raise TrainingDiverged(f"loss is {loss.item()} at step {step + 1}; records up to step {step} "
                                       f"are kept in {run_dir}, the run is not marked done")
            scheduler.step()
            step += 1
            loss_value = loss.item()
            loss_sum += loss_value
            penalty_sum += getattr(objective, "last_penalty", 0.0)
            correct += (logits.argmax(1) == labels).sum().item()
            seen += len(labels)
            steps_since_eval += 1
            train_seconds += time.perf_counter() - tic
            bar.update(1)
            shown["loss"] = f"{loss_value:.3f}"
            bar.set_postfix(shown, refresh=False)
            if step in eval_steps:
                evaluate_and_record()
            if step >= total_steps:
                break
    bar.close()

    # ---- finish -------------------------------------------------------------------------------
    final = best.restore(model) if best is not None else None  # final_model: best_val / robust_val
    save_final_weights(run_dir, model, {"strategy": config.strategy, "model": config.model})
    if config.wise_ft is not None:  # on the run's result, from the run's initial model (or a probe head)
        from rftlib.training.wise_ft import evaluate_wise_ft

        evaluate_wise_ft(config, run_dir, model, task=task, initial_state=initial_state, end_state=trainable_state(model),
                         evaluate=evaluate, end_step=final["step"] if final is not None else step,
                         corrupted=corrupted is not None, device=device, progress=progress,
                         **config.wise_ft)
    summary = summarise(records, trainable=trainable, total=total, steps=total_steps, final=final)
    prompts = run_prompts(config, task)  # an open_clip model: which class names and templates its head used
    if prompts is not None:
        summary["zero_shot"] = prompts.describe()
    # The points every evaluation used (fewer than eval_size where a split is smaller).
    summary.update(n_eval=len(evaluate.test), **({"n_ood": len(evaluate.ood)} if evaluate.ood is not None else {}))
    if config.robustness_curve is not None:
        summary["robustness_curve"] = _curve_summary(config, run_dir, records)
    if config.final_autoattack is not None:  # on the run's result: the last model, or the best-validation one
        summary["autoattack"] = run_final_autoattack(
            spec=config.final_autoattack, run_dir=run_dir, model=model, test_points=evaluate.test,
            pgd_eps=peak_eps or config.attack["eps"], outcome_key=peak_outcome_key,
            final_step=final["step"] if final is not None else step, peak=peak, seed=config.seed, device=device)
    atomic_write_text(run_dir / SUMMARY, json.dumps(summary, indent=2))
    (run_dir / DONE).touch()
    return RunResult(run_dir, _frame(records), summary)


def _curve(config: RunConfig, total_steps: int | None) -> dict:
    """The Evaluator's robustness curve (radii, options at a radius, attack name) and the steps it is due
    (``when: end``: the run's last, ``total_steps``); none without a curve or without the run's length."""
    if config.robustness_curve is None or total_steps is None:
        return {}
    from rftlib.attacks.threat_config import curve_attack_options, curve_options

    options = curve_options(config.robustness_curve)
    curve = (options.radii, lambda radius: curve_attack_options(options, radius, config.attack), options.attack["name"])
    return {"curve": curve, "curve_steps": None if options.when == "every" else {total_steps}}


def _curve_summary(config: RunConfig, run_dir: Path, records: list[dict]) -> dict | None:
    """The last measured curve with its intervals, from that step's per-sample outcomes (None if none)."""
    measured = [r["step"] for r in records if "curve_auc" in r]
    if not measured:
        return None
    options = config.robustness_curve
    entry = curve_summary(read_step_outcomes(run_dir, measured[-1]), options["radii"], options.get("norm", "Linf"),
                          measured[-1])
    return {**entry, "attack": options.get("attack", {"name": "pgd"}), "when": options.get("when", "end")}


def build_run_model(config: RunConfig, run_dir: Path, device, progress: bool = False, task=None):
    """The run's task (``task``, or loaded and checked) and its model as at step 0: built (an open_clip
    model with the task's zero-shot head, computed on ``device``, kept as ``model.rft_zero_shot``), (with
    ``lp_ft``) given the probe head fitted on the frozen pretrained backbone, then prepared with the
    strategy (and, with ``objective: flyp``, for FLYP); on the CPU. Call after ``seed_everything(config.seed)``:
    the head and the strategy's modules draw their initial values (loading the task draws none)."""
    model_kwargs = dict(config.model_kwargs)
    task = task if task is not None else _load_checked_task(config)
    zero_shot_options = clip_build_options(config, task, device)  # an open_clip model starts zero-shot
    model = build_model(config.model, task.num_classes, pretrained=config.pretrained, weights=config.weights,
                        **model_kwargs, **zero_shot_options)
    zero_shot = head_state(model) if zero_shot_options else None
    if config.lp_ft is not None:  # LP-FT's first stage, before the strategy adds its modules
        from rftlib.training.lp_ft import probe_stage

        probe_stage(model, task.train, config=config, run_dir=run_dir, device=device, progress=progress)
    apply_strategy(model, config.strategy, **config.strategy_options)
    if config.objective == "flyp":  # the head follows the text tower, which trains or not
        from rftlib.training.flyp import prepare_flyp

        prepare_flyp(model, **config.objective_options)
    model.rft_zero_shot = zero_shot  # WiSE-FT's start: zeroshot
    return task, model


def run_evaluator(config: RunConfig, task, run_dir: Path, device, progress: bool = False,
                  total_steps: int | None = None):
    """The run's Evaluator (its evaluation points, attacks, OOD, corruptions, with best_val the
    validation hold-out and, given the run's ``total_steps``, its robustness curve) and whether
    corruptions are measured."""
    # Common corruptions of the evaluation subset: computed once, cached in the run directory.
    corrupted = (corrupted_sets(eval_subset(task.test, config.eval_size, config.seed), config.corruptions,
                                seed=config.seed, cache_dir=run_dir / CACHE_DIR, progress=progress)
                 if config.corruptions is not None else None)
    best_val = config.final_model == "best_val"
    evaluate = Evaluator(test=task.test, ood=task.ood, size=config.eval_size, seed=config.seed,
                         batch_size=config.eval_batch_size, attacks=config.attack_specs(), device=device,
                         precision=config.precision, num_workers=config.num_workers,
                         extra_sets={**({VAL_SET: eval_subset(task.val, config.eval_size, config.seed)}
                                        if best_val else {}), **(corrupted or {})},
                         **_curve(config, total_steps))
    return evaluate, corrupted


def _epoch_batches(dataset, config: RunConfig, steps_per_epoch: int, step: int):
    """The batches from global step ``step`` to the end of its epoch. Each epoch's order is a
    permutation drawn from (seed, epoch) alone, so a resumed run sees exactly the same batches."""
    epoch, offset = divmod(step, steps_per_epoch)
    generator = torch.Generator().manual_seed(derived_seed(config.seed, epoch))
    order = torch.randperm(len(dataset), generator=generator).tolist()
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    return DataLoader(dataset, batch_sampler=batches[offset:], num_workers=config.num_workers,
                      pin_memory=torch.cuda.is_available())


def summarise(records: list[dict], *, trainable: int, total: int, steps: int, final: dict | None = None) -> dict:
    """Final metrics (of the ``final`` record, default the last), the step of best robustness and the
    run's Pareto AUC."""
    summary = {"steps": steps, "trainable_params": trainable, "total_params": total,
               "trainable_fraction": trainable / total, "n_evals": len(records)}
    if records:
        best = max(records, key=lambda r: (r["adv_acc"], -r["step"]))
        summary.update(final={k: v for k, v in (final or records[-1]).items() if k not in TIMING_FIELDS},
                       best_adv_step=best["step"], best_adv_acc=best["adv_acc"],
                       pareto_auc=pareto_auc([(r["clean_acc"], r["adv_acc"]) for r in records]))
    return summary


def load_result(run_dir: str | Path) -> RunResult:
    """The RunResult of a run directory (finished or not)."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / SUMMARY).read_text()) if (run_dir / SUMMARY).exists() else {}
    return RunResult(run_dir, _frame(read_records(run_dir / RECORDS)), summary)


def _frame(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records)


def model_image_size(config: RunConfig, model_kwargs: dict) -> int:
    """The resolution the model expects: an explicit img_size, else the timm default config's (an open_clip
    model: its image tower's configured side)."""
    if "img_size" in model_kwargs:
        return int(model_kwargs["img_size"])
    if is_clip_name(config.model):  # its image tower's configured side
        from rftlib.models.names import default_input_size

        return default_input_size(config.model) or 224
    import timm

    try:
        return int(timm.get_pretrained_cfg(config.model).input_size[-1])
    except Exception:  # a model without a pretrained config: ask the model itself
        return 224
