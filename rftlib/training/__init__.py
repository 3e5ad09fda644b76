"""Fine-tuning runs with continuous evaluation (see ``loop.py`` for the loop itself)."""
from .loop import RunResult, TrainingDiverged, finetune, load_result

__all__ = ["finetune", "RunResult", "TrainingDiverged", "load_result"]
