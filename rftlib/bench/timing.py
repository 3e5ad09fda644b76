"""Wall-clock timing that is fair between peers and correct on a GPU.

Peers are timed round-robin (each repeat runs every peer once), so a slow drift of the machine's load
reaches every peer alike, and each peer is summarised by its median time, which neither a burst of
load from another process nor one lucky quiet call can move much. (The best time, the usual choice
on a quiet machine, proved fragile on a shared one: one lucky call of one peer moved a ratio by 5%.)
On CUDA, kernels run asynchronously, so a time is taken between two CUDA events recorded on the
stream after a full synchronisation; on CPU, ``time.perf_counter`` around the call is exact.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


def elapsed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds ``fn()`` takes on ``device``, including every kernel it launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3  # ms -> s
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


def first_line(error: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, short enough for a table cell."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class Peer:
    """One thing to time. ``setup`` runs before every call, untimed (e.g. re-seeding the RNG)."""

    name: str
    run: Callable[[], Any]
    setup: Callable[[], Any] = lambda: None
    times: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def best(self) -> float | None:
        return min(self.times) if self.times else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.times) if self.times else None


def time_peers(peers: list[Peer], repeats: int, device: torch.device) -> list[Peer]:
    """Time every peer ``repeats`` times, round-robin, after one untimed warm-up call each.

    The warm-up pays one-off costs (torch.compile, cuDNN autotuning, allocator growth). A peer whose
    warm-up raises is not timed again and keeps the error's first line in ``error``: one broken
    variant (a compiler missing, say) must not end the whole benchmark.
    """
    for peer in peers:
        try:
            peer.setup()
            elapsed(peer.run, device)
        except Exception as error:  # noqa: BLE001 - reported in the table instead
            peer.error = first_line(error)
    for _ in range(repeats):
        for peer in peers:
            if peer.error is None:
                peer.setup()
                peer.times.append(elapsed(peer.run, device))
    return peers


def record_timings(rows: dict[str, dict], peers: list[Peer], repeats: int, device: torch.device) -> None:
    """Time ``peers`` (``time_peers``) and write each one's outcome into its row (``rows[peer.name]``):
    ``status`` "ok" with the median ``seconds`` and every round's ``times``, or "failed" with a note."""
    for peer in time_peers(peers, repeats, device):
        row = rows[peer.name]
        if peer.error is not None:
            row.update(status="failed", note=peer.error)
        else:
            row.update(status="ok", seconds=peer.median, times=peer.times)


def compare_to_peer(row: dict, reference: dict) -> None:
    """Add to ``row`` its speed-up over the peer ``reference`` measured in the same run (median and per
    round) and the difference in robust accuracy, so a faster attack that is weaker shows it."""
    row["peer"] = reference["name"]
    if row["status"] == reference["status"] == "ok":
        row["speedup"] = reference["seconds"] / row["seconds"]
        row["speedup_by_round"] = [ref / own for ref, own in zip(reference["times"], row["times"])]
        row["robust_acc_delta"] = row["robust_acc"] - reference["robust_acc"]


def matmul_peak(device: torch.device, quick: bool = False) -> dict:
    """The device's achievable matmul rate, measured now from the best of several calls (a peak is
    what the hardware can do): bf16 8192^3 on CUDA (the rate tensor cores reach in practice, the
    denominator of "fraction of peak"), fp32 on CPU (labelled as such)."""
    if device.type == "cuda":
        n, dtype, label = (4096 if quick else 8192), torch.bfloat16, "bf16 matmul"
    else:
        n, dtype, label = (1024 if quick else 2048), torch.float32, "fp32 matmul (CPU)"
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    calls = 10 if device.type == "cuda" else 3

    def run():
        for _ in range(calls):
            torch.mm(a, b)

    peer = time_peers([Peer("peak", run)], repeats=3 if quick else 5, device=device)[0]
    return {"what": f"{label} {n}x{n}x{n}", "dtype": str(dtype).removeprefix("torch."),
            "flops_per_s": 2 * n**3 * calls / peer.best}
