"""Reaching the Hugging Face hub: is it switched off, and can it be reached at all.

Without network, the hub clients retry for a minute or more before failing; rftlib checks first, in
seconds, and says what to pass instead (a local weights file, a local dataset path).
"""
from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 3.0
_TRUE = {"1", "ON", "YES", "TRUE"}


def hub_offline(*, datasets: bool = False) -> bool:
    """Whether hub access is switched off (HF_HUB_OFFLINE; with ``datasets``, HF_DATASETS_OFFLINE too)."""
    from huggingface_hub import constants

    names = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if datasets else ("HF_HUB_OFFLINE",)
    if any(os.environ.get(n, "").strip().upper() in _TRUE for n in names):
        return True
    if datasets:
        import datasets as hf_datasets

        if getattr(hf_datasets.config, "HF_HUB_OFFLINE", False):
            return True
    return bool(constants.HF_HUB_OFFLINE)


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def unreachable_host(url: str | None = None) -> str | None:
    """The host of ``url`` (default: the hub's endpoint) when a TCP connection to it cannot be opened
    within a few seconds; None when it can."""
    parsed = urlparse(url or hub_endpoint())
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        socket.create_connection((parsed.hostname, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError:
        return parsed.hostname
    return None
