"""Where jobs run: local worker processes, N at a time, or Ray tasks on a workstation or a cluster.

Both launchers yield each job's outcome (see ``execute.execute_job``) as the job ends, in the order
jobs end; a failing job never stops the others.
"""
from __future__ import annotations

import json
import os
import queue
import socket
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any

from rftlib.core.errors import RftError, unknown_choice
from rftlib.sweep.execute import first_line, marker, run_worker, worker_error
from rftlib.sweep.jobs import Job
from rftlib.sweep.spec import Resources
from rftlib.sweep.upstreams import job_upstream, pretrain_in_worker, upstream_failure

LAUNCHERS = ("local", "ray")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def check_launcher(name: str) -> str:
    if name not in LAUNCHERS:
        raise unknown_choice("launcher", name, LAUNCHERS)
    return name


def check_launch(launcher: str, jobs: int, address: str | None) -> None:
    """Everything about where the jobs will run that can fail, checked before anything runs."""
    check_launcher(launcher)
    if jobs < 1:
        raise RftError(f"--jobs must be at least 1, got {jobs}")
    if launcher == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise RftError("the ray launcher needs ray: pip install 'rftlib[ray]'") from None
        check_address(ray_address(address))


def check_kernel(name: str) -> None:
    """An RftError saying how to register the kernel when no Jupyter kernel ``name`` exists here."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        raise RftError(f"no Jupyter kernel named {name!r}; register it with "
                       f"`python -m ipykernel install --sys-prefix --name {name}` (make setup does)") from None


def thread_env(threads: int) -> dict[str, str]:
    """Environment limiting the math libraries of a kernel to ``threads`` threads."""
    return {var: str(max(1, int(threads))) for var in _THREAD_VARIABLES}


def job_env(threads: int) -> dict[str, str]:
    """A job's environment: ``thread_env(threads)``, plus the driver's $RFT_FORCE_RESUME (set by
    ``rft sweep --force-resume``), which a Ray task on another node would not inherit, and MLflow's
    telemetry off (a notebook that imports MLflow itself must not phone home either)."""
    from rftlib.core.numerics import FORCE_VARIABLE

    forwarded = {FORCE_VARIABLE: os.environ[FORCE_VARIABLE]} if os.environ.get(FORCE_VARIABLE) else {}
    return {**thread_env(threads), **forwarded, "MLFLOW_DISABLE_TELEMETRY": "true"}


def _visible_gpus() -> list[str]:
    """The GPU ids this process may use: $CUDA_VISIBLE_DEVICES when set, else those torch sees."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def local_slots(jobs: int, threads: int = 1) -> list[dict[str, str]]:
    """One environment per concurrent job: ``threads`` math threads each (the sweep's
    ``resources.cpus``), whatever ``jobs`` is, since the thread count changes a CPU run's numerics
    and a run's records must not depend on how many runs share the machine; and, where GPUs exist,
    one GPU each (round robin)."""
    gpus = _visible_gpus()
    slots = []
    for slot in range(jobs):
        env = job_env(threads)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        slots.append(env)
    return slots


def failed(job: Job, error: str) -> dict[str, Any]:
    """The outcome of a job that failed without a marker of its own (its worker died, or it never started)."""
    return {"name": job.name, "status": "failed", "seconds": None, "error": error}


def _run_worker(job: Job, env: dict[str, str]) -> dict[str, Any]:
    """Execute ``job`` in a fresh Python process (papermill changes the working directory, so two
    jobs cannot share one process) and read its outcome from the marker it wrote."""
    done = run_worker("rftlib.sweep.execute", json.dumps(job.spec(env)))
    for status in ("done", "failed"):
        path = marker(job.output, status)
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
    return failed(job, worker_error(done))  # the worker died before writing a marker


def run_local(jobs: Sequence[Job], n_jobs: int = 1, threads: int = 1,
              upstreams: Mapping[str, dict[str, Any]] | None = None) -> Iterator[dict[str, Any]]:
    """Execute ``jobs`` in worker processes, ``n_jobs`` at a time, each with its slot's environment
    (``threads`` math threads). ``upstreams`` (``upstreams.missing_upstreams``) are pretrained first, in
    the same slots; a run waits for its own upstream only, and fails with its error if it failed. A
    worker dies with this process (``execute.die_with_parent``): it is started from a pool thread, which
    lives until every job has ended."""
    slots: queue.Queue[dict[str, str]] = queue.Queue()
    for env in local_slots(n_jobs, threads):
        slots.put(env)

    def in_slot(function, *args):
        env = slots.get()
        try:
            return function(*args, env)
        finally:
            slots.put(env)

    pool = ThreadPoolExecutor(max_workers=n_jobs)
    try:
        pretraining = {pool.submit(in_slot, pretrain_in_worker, options): key
                       for key, options in (upstreams or {}).items()}
        waiting: dict[str, list[Job]] = {key: [] for key in pretraining.values()}
        running = set(pretraining)
        for job in jobs:
            if job_upstream(job) in waiting:
                waiting[job_upstream(job)].append(job)
            else:
                running.add(pool.submit(in_slot, _run_worker, job))
        while running:
            ended, running = wait(running, return_when=FIRST_COMPLETED)
            for future in ended:
                if future not in pretraining:
                    yield future.result()
                    continue
                _, error = future.result()
                for job in waiting.pop(pretraining[future]):
                    if error:
                        yield failed(job, upstream_failure(error))
                    else:
                        running.add(pool.submit(in_slot, _run_worker, job))
    finally:  # on Ctrl-C the workers got the signal too; queued jobs must not start
        pool.shutdown(wait=True, cancel_futures=True)


def ray_address(address: str | None) -> str:
    """The Ray cluster to use: ``address``, else $RAY_ADDRESS, else ``local`` (a new instance; plain
    ray.init() would join whichever cluster this machine started last, possibly a stale one)."""
    return address or os.environ.get("RAY_ADDRESS") or "local"


# An HTTP/2 client's first bytes: the connection preface and an empty SETTINGS frame. Every gRPC
# server (Ray's GCS and its client server are) answers with a SETTINGS frame (type 4) at once.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_CONNECT_SECONDS, _PROBE_SECONDS = 5, 3


def check_address(address: str) -> None:
    """An RftError within seconds when a ``host:port`` Ray address does not answer as a Ray cluster
    (ray.init would retry for minutes): nothing listens there, or what listens does not speak gRPC
    (a web server, a closed-off port). ``local``, ``auto`` and addresses without a port are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        connection = socket.create_connection((host, int(port)), timeout=_CONNECT_SECONDS)
        connection.settimeout(_PROBE_SECONDS)
    except OSError as error:
        raise RftError(f"cannot reach the Ray cluster at {address}: {error.strerror or error}") from None
    with connection:
        try:
            connection.sendall(_HTTP2_PREFACE)
            reply = connection.recv(9)
        except OSError:
            reply = b""
    if len(reply) < 4 or reply[3] != 4:
        raise RftError(f"{address} accepts connections but does not answer as a Ray cluster (no gRPC reply in "
                       f"{_PROBE_SECONDS} s); give the head's GCS address (host:6379) or its client address "
                       f"(ray://host:10001)")


def run_ray(jobs: Sequence[Job], resources: Resources, address: str | None = None) -> Iterator[dict[str, Any]]:
    """Execute each job as a Ray task asking for ``resources``, on the cluster ``ray_address(address)``
    (``auto``: the cluster this machine belongs to). The output directory, the notebooks and the
    working directory must be at the same paths on every node (a shared file system)."""
    import ray

    from rftlib.sweep.execute import execute_job

    address = ray_address(address)
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        except Exception as error:  # ConnectionError and friends: one line, not Ray's traceback
            raise RftError(f"cannot start or join Ray at {address}: "
                           f"{first_line(error) or type(error).__name__}") from None
    # A task whose worker or node dies is run again (elsewhere, the node being gone) and its run
    # resumes from its checkpoint; execute_job never raises, so a failing notebook is not retried.
    task = ray.remote(execute_job).options(num_cpus=resources.cpus, num_gpus=resources.gpus,
                                           max_retries=resources.retries)
    env = job_env(int(resources.cpus))  # Ray gives the task its GPUs through CUDA_VISIBLE_DEVICES
    pending = {task.remote(job.spec(env)): job for job in jobs}
    try:
        while pending:
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready)
            try:
                yield ray.get(ready)
            except Exception as error:  # the worker died (out of memory, node lost)
                yield failed(job, f"{type(error).__name__}: {first_line(error)}")
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()
