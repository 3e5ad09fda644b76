"""``rft strategies``: the seven strategies with their trainable and total parameter counts.

The model is built with ``pretrained=False`` on PyTorch's "meta" device, so even ViT-B is counted in
well under a second without allocating or downloading its weights.
"""
from __future__ import annotations

import argparse
import copy

from rftlib.core.errors import RftError
from rftlib.models import PAPER_MODEL, build_model
from rftlib.strategies import REGISTRY, STRATEGIES, apply_strategy, family_of, trainable_parameters
from rftlib.strategies.families import placement


def strategy_table(model_name: str = PAPER_MODEL, num_classes: int = 10, **model_kwargs) -> list[dict]:
    """One row per strategy, in the paper's order: strategy, trainable, total, fraction (trainable /
    total, in [0, 1]), summary (with the layers of each block it acts on, e.g. "[resnet: conv2,
    conv1, conv3]"). ``model_kwargs`` go to :func:`rftlib.models.build_model` (e.g.
    ``img_size``, ``patch_size``). A strategy the model cannot take (a ViT-only one on a CNN) gets
    None counts and the reason as its summary."""
    model_kwargs.setdefault("device", "meta")
    base = build_model(model_name, num_classes=num_classes, pretrained=False, **model_kwargs)
    rows = []
    for name in STRATEGIES:
        try:
            model = apply_strategy(copy.deepcopy(base), name)
        except RftError as error:
            rows.append({"strategy": name, "trainable": None, "total": None, "fraction": None, "summary": str(error)})
            continue
        trainable, total = trainable_parameters(model)
        where = placement(base.backbone, model.rft_strategy[1])
        rows.append(
            {"strategy": name, "trainable": trainable, "total": total, "fraction": trainable / total,
             "summary": REGISTRY.get(name).summary + (f" [{where}]" if where else "")}
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table, the fraction in percent."""
    header = ("strategy", "trainable", "total", "fraction (%)", "what trains")
    lines = [
        (r["strategy"], f"{r['trainable']:,}", f"{r['total']:,}", f"{100 * r['fraction']:.4f}", r["summary"])
        if r["trainable"] is not None
        else (r["strategy"], "-", "-", "-", r["summary"])
        for r in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines)]
    right = (False, True, True, True, False)  # numbers right-aligned

    def render(cells):
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

    return "\n".join([render(header), render(["-" * w for w in widths])] + [render(line) for line in lines])


def command(args: argparse.Namespace) -> int:
    """`rft strategies` (its options: :mod:`rftlib.strategies_command`)."""
    kwargs = {k: v for k, v in (("img_size", args.img_size), ("patch_size", args.patch_size)) if v is not None}
    rows = strategy_table(args.model, args.num_classes, **kwargs)
    family = family_of(build_model(args.model, args.num_classes, pretrained=False, device="meta", **kwargs).backbone)
    described = f"family {family.name}" if family else "no family: full, linear_probe and bitfit only"
    print(f"{args.model} ({described}), {args.num_classes} classes")
    print(format_table(rows))
    return 0
