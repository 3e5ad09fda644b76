"""`rft complexity --dataset NAME [--model NAME] [--weights PATH] [--size N] [--profile P] [-p key=value]`:
the complexity measures of one task under a pretrained backbone, printed as a table and written as
JSON to ``<output_dir>/complexity/`` (the run configuration's output_dir: beside the runs of that
configuration, where ``join_summaries`` finds them), or to ``--json PATH``."""
from __future__ import annotations

import argparse
from pathlib import Path


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="a dataset registered in rftlib.data")
    parser.add_argument("--model", help="timm model name (default: the profile's)")
    parser.add_argument("--weights", help="local weights file instead of the hub (or the profile's upstream)")
    parser.add_argument("--profile", default="paper", help="params/profiles/<name>.yaml to resolve the rest from "
                                                             "(demo: the tiny ViT and its synthetic upstream)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a RunConfig field, as in rft run (e.g. -p domain=d0 -p dataset_options.separability=1)")
    parser.add_argument("--size", type=int, default=1000, help="examples of the training split measured (seeded)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the subset, the folds and the half-samples")
    parser.add_argument("--resamples", type=int, default=50, help="half-samples for the 95%% intervals (0: none)")
    parser.add_argument("--upstream-sample", help="a folder of upstream images (e.g. ImageNet) for the Fréchet "
                                                  "distance, for weights without a synthetic upstream setting")
    parser.add_argument("--device", help="where the backbone runs (default: the configuration's)")
    parser.add_argument("--json", help="write the JSON here instead of <output_dir>/complexity/")


def command(args: argparse.Namespace) -> int:
    from rftlib.runs.config import RunConfig, apply_overrides
    from rftlib.core.errors import RftError
    from rftlib.models.timm_names import check_model_name
    from rftlib.training.params import resolve
    from rftlib.analysis.complexity.cache import cache_file, with_weights, write_result
    from rftlib.analysis.complexity.features import image_files
    from rftlib.analysis.complexity.measure import complexity_options, format_table, measure_task, task_identity

    # Every check first: nothing is loaded or written before the input is known to be good.
    options = complexity_options(size=args.size, seed=args.seed, resamples=args.resamples,
                                 upstream_sample=args.upstream_sample, device=args.device)
    values = apply_overrides({}, args.param)
    values.update({k: v for k, v in (("dataset", args.dataset), ("model", args.model), ("weights", args.weights))
                   if v is not None})
    if args.weights is not None:
        values["upstream"] = None  # explicit weights replace the profile's synthetic upstream
    config = resolve(args.profile, **values)
    check_model_name(task_identity(config)["model"])
    if options.upstream_sample:
        image_files(options.upstream_sample)
    target = Path(args.json) if args.json else None
    if target is not None and (target.is_dir() or target.parent.is_file()):
        raise RftError(f"--json {args.json!r} must be a file path in an existing or creatable folder")

    config = with_weights(config)
    result = measure_task(config, progress=print, **vars(options))
    if target is None:
        target = cache_file(config.get("output_dir") or RunConfig().output_dir, config)
    print(format_table(result))
    print(f"written: {write_result(target, result)}")
    return 0


