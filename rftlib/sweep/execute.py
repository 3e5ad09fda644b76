"""Execute one notebook job: papermill into its output path, the HTML render, then a marker.

Runs inside a worker: a subprocess of the local launcher (``python -m rftlib.sweep.execute SPEC``) or a
Ray task. A failing notebook never raises here: the executed notebook keeps the error cell, the
``.failed`` marker holds the one-line reason, and the returned outcome says the same.

Files beside ``output`` (``notebook.ipynb`` for a run, ``<report>.ipynb`` for a report):
``.log`` (the cells' output as it streams), ``.html`` (the render), and exactly one of ``.done``
(written last, only when execution and render both succeeded) or ``.failed``.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def marker(output: Path, status: str) -> Path:
    """The marker file saying a job is ``done`` or ``failed``."""
    return Path(output).with_suffix(f".{status}")


def render_html(notebook: Path) -> Path:
    """Render an executed notebook to HTML beside it (figures embedded as data URIs)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(notebook))
    html = notebook.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def first_line(text: object) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _execute(spec: dict[str, Any], output: Path) -> str | None:
    """Run papermill with the cells' output logged to ``<output>.log``; the error line or None."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    logger = logging.getLogger("papermill")
    handler = logging.FileHandler(output.with_suffix(".log"), mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    # The sweep checked every parameter against the declared ones; papermill's own check misreads
    # annotated declarations (`x: str | None = None`) and would log them as unknown.
    handler.addFilter(lambda record: not record.getMessage().startswith("Passed unknown parameter"))
    # Only to the log file: on the console the sweep's progress bar speaks for the runs.
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        papermill.execute_notebook(
            spec["notebook"], str(output), parameters=spec["parameters"], kernel_name=spec["kernel"],
            log_output=True, progress_bar=False, cwd=spec["cwd"],
            # Once the last cell has run, every file the notebook writes is closed (runs write atomically);
            # a graceful shutdown would only spend ~2 s of CPU per job tearing the kernel's imports down.
            shutdown_kernel="immediate",
        )
    except PapermillExecutionError as error:
        return f"{error.ename}: {first_line(error.evalue)} (cell {error.exec_count})"
    except Exception as error:  # a dead kernel, a missing kernel spec: the job failed, the sweep goes on
        return f"{type(error).__name__}: {first_line(error)}"
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.level, logger.propagate = saved
    return None


def execute_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Execute the job described by ``spec`` (see ``Job.spec``) and return its outcome:
    ``{"name", "status": "done" | "failed", "seconds", "error"}``."""
    start = time.monotonic()
    # The kernel is a child process: it inherits these (threads per job, the job's GPU).
    os.environ.update(spec.get("env", {}))
    output = Path(spec["output"])
    output.parent.mkdir(parents=True, exist_ok=True)
    for status in ("done", "failed"):
        marker(output, status).unlink(missing_ok=True)
    error = _execute(spec, output)
    if output.exists():  # also for a failed run: its render shows the error cell
        try:
            render_html(output)
        except Exception as render_error:
            error = error or f"HTML render failed: {type(render_error).__name__}: {first_line(render_error)}"
    outcome = {"name": spec["name"], "status": "failed" if error else "done",
               "seconds": round(time.monotonic() - start, 2), "error": error}
    if error and spec.get("run_dir"):
        mark_run_failed(Path(spec["run_dir"]), error)
    marker(output, outcome["status"]).write_text(json.dumps(outcome) + "\n", encoding="utf-8")
    return outcome


def mark_run_failed(run_dir: Path, error: str) -> None:
    """Leave the run's ``failed`` marker (``rftlib.runs.rundir``) when its notebook failed and the run did not
    record its own end: refused before it claimed its directory (bad settings) or killed with its kernel.
    Every reader then counts it as failed; the run's next attempt removes the marker."""
    from rftlib.runs.records import DONE
    from rftlib.runs.rundir import FAILED

    if run_dir.is_dir() and not (run_dir / DONE).exists() and not (run_dir / FAILED).exists():
        (run_dir / FAILED).write_text(f"notebook failed: {error}\n", encoding="utf-8")


def run_worker(module: str, argument: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m <module> <argument> <this process's PID>`` (a worker that dies with this process,
    ``die_with_parent``), with ``env`` added to this environment, and wait for it."""
    return subprocess.run([sys.executable, "-m", module, argument, str(os.getpid())], capture_output=True,
                          text=True, env={**os.environ, **env} if env else None)


def worker_error(done: subprocess.CompletedProcess) -> str:
    """A failed worker's one line: the last of its standard error, else its exit status."""
    lines = done.stderr.strip().splitlines()
    return lines[-1] if lines else f"worker exited with status {done.returncode}"


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent (the sweep) dies, however it dies
    (PR_SET_PDEATHSIG; elsewhere nothing). The notebook's Jupyter kernel follows the worker: ipykernel
    exits when the process that started it is gone. So killing a sweep stops its runs."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """Worker entry point of the local launcher: the job spec as one JSON argument, then the
    launcher's PID (the worker dies with it)."""
    argv = sys.argv[1:] if argv is None else argv
    from rftlib.core.fast_imports import skip_slow_optional_imports

    skip_slow_optional_imports()  # papermill -> nbformat -> jsonschema: ~2 s of CPU per job otherwise
    if len(argv) > 1:
        die_with_parent(int(argv[1]))
    outcome = execute_job(json.loads(argv[0]))
    return 0 if outcome["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
