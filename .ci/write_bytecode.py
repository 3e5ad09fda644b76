"""Write the bytecode of the modules every run, report and test imports, once, at set-up.

uv installs without compiling bytecode (pip compiles everything, ~1 min of CPU for torch alone), so
Python writes each module's .pyc the first time it imports it. Where PYTHONDONTWRITEBYTECODE is set
(some CI images and sandboxes set it), that first time never ends: every process compiled torch, timm
and pandas from source again, measured at 19-22 s of CPU for a notebook kernel's imports against
7-8 s with bytecode on the 2-core machine, which tripled `make demo`. The Makefile unsets the variable
for its commands and runs this once after installing: importing the stack here writes exactly the
bytecode the study uses (~25 s of CPU), not the 6.7 GB venv's whole (compileall: ~100 s).
"""
import importlib
import sys
import time

# What a run's kernel, a report's, the sweep driver, the test suite and its Ray and MLflow tests import.
MODULES = ("torch", "torchvision", "timm", "peft", "safetensors.torch", "numpy", "scipy.stats", "sklearn",
           "pandas", "matplotlib.pyplot", "seaborn", "datasets", "papermill", "nbconvert", "nbclient",
           "ipykernel.kernelapp", "jupyter_client", "ray", "mlflow", "pyautoattack", "torchattacks",
           "imagecorruptions", "pytest", "rftlib.training", "rftlib.sweep.runner", "rftlib.analysis.results")


def main() -> int:
    if sys.flags.dont_write_bytecode:
        print("write_bytecode: PYTHONDONTWRITEBYTECODE is set; nothing written", file=sys.stderr)
        return 0
    start, missing = time.monotonic(), []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra not installed: nothing to write for it
            missing.append(name)
    print(f"bytecode written for the study's imports in {time.monotonic() - start:.0f} s"
          + (f" (not installed: {', '.join(missing)})" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
