"""A real single-node SLURM cluster for tests: slurmctld and slurmd started as child processes from Debian's
packages (``slurmctld``, ``slurmd``, ``slurm-client``), every file in one temporary directory, nothing in /etc.

Imports nothing from rftlib: the tests drive the cluster only through SLURM's own commands, as a user would.
Facts it relies on (measured, ``../shared/SLURM.md``): Slurm 22.05's ``auth/none`` needs no munge; a requeued
job waits ``cred_expire`` + 1 s and a scheduling pass; fake GPUs must be character devices for slurmd to set
``CUDA_VISIBLE_DEVICES``; slurmstepd and the jobs outlive a killed slurmd, so jobs are cancelled before the
daemons stop.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client")
COMMANDS = ("slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel")
NODE = "localhost"
PARTITION, URGENT = "debug", "urgent"  # jobs in `urgent` preempt (requeue) jobs in `debug`
GPUS = 2


def missing_commands() -> list[str]:
    """The SLURM commands this machine lacks (a daemon's directory, /usr/sbin, is often off a user's PATH)."""
    return [c for c in COMMANDS if _which(c) is None]


def _which(command: str) -> str | None:
    return shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin:/usr/bin")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _fake_gpus(folder: Path) -> list[Path]:
    """Character devices standing in for GPUs (the NVIDIA major number, 195); none without the right to
    make device nodes (not root): the cluster then has no GPUs."""
    devices = []
    for i in range(GPUS):
        path = folder / f"nvidia{i}"
        try:
            os.mknod(path, 0o666 | 0o020000, os.makedev(195, i))  # S_IFCHR
        except OSError:
            return []
        devices.append(path)
    return devices


def slurm_conf(folder: Path, ctld_port: int, slurmd_port: int, cpus: int, memory_mb: int, gpus: bool) -> str:
    user = "root" if os.geteuid() == 0 else os.environ.get("USER") or str(os.geteuid())
    gres = f" Gres=gpu:{GPUS}" if gpus else ""
    return f"""ClusterName=rfttest
SlurmctldHost={NODE}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/none
CredType=cred/none
AuthInfo=cred_expire=5
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool/%n
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
KillWait=2
MinJobAge=600
InactiveLimit=0
SlurmdTimeout=30
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
SlurmctldParameters=preempt_send_user_signal
JobRequeue=1
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1 \
RealMemory={memory_mb}{gres} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP PriorityTier=1
PartitionName={URGENT} Nodes={NODE} MaxTime=INFINITE State=UP PriorityTier=10
"""


class SlurmCluster:
    """slurmctld and slurmd on this machine, configured in ``folder``; ``env`` is what a client needs
    (``SLURM_CONF``; the SLURM commands on PATH). ``cpus`` may exceed the machine's cores: with
    ``SlurmdParameters=config_overrides`` slurmd takes the configuration's word for the node's size."""

    def __init__(self, folder: str | Path, cpus: int = 8, memory_mb: int = 8000):
        self.folder = Path(folder)
        self.cpus, self.memory_mb = cpus, memory_mb
        self.daemons: list[subprocess.Popen] = []
        self.gpus = 0

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        paths = os.environ.get("PATH", "").split(os.pathsep)
        extra = [p for p in ("/usr/sbin", "/usr/bin") if p not in paths]
        return {"SLURM_CONF": str(self.conf), "PATH": os.pathsep.join(paths + extra)}

    def command(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout,
                              env={**os.environ, **self.env})

    def start(self, timeout: float = 30) -> "SlurmCluster":
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        devices = _fake_gpus(self.folder)
        self.gpus = len(devices)
        ctld_port, slurmd_port = _free_ports(2)
        text = slurm_conf(self.folder, ctld_port, slurmd_port, self.cpus, self.memory_mb, bool(devices))
        self.conf.write_text(text)
        (self.folder / "gres.conf").write_text(
            "AutoDetect=off\n" + (f"NodeName={NODE} Name=gpu File={self.folder}/nvidia[0-{GPUS - 1}]\n"
                                  if devices else ""))
        env = {**os.environ, **self.env}
        log = open(self.folder / "daemons.out", "ab")
        # -i: ignore any saved state (a fresh cluster: job ids restart at 1); -D: in the foreground, our child.
        for argv in ([_which("slurmctld"), "-D", "-i"], [_which("slurmd"), "-D", "-N", NODE]):
            self.daemons.append(subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                 start_new_session=True))
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            state = self.command("sinfo", "-h", "-o", "%T", check=False, timeout=10)
            if state.returncode == 0 and state.stdout.strip() == "idle":
                return self
            dead = [d for d in self.daemons if d.poll() is not None]
            if dead or time.monotonic() > deadline:
                self.stop()
                said = state.stdout.strip() or state.stderr.strip()
                raise RuntimeError(f"the SLURM cluster did not start (sinfo: {said}); see {self.folder}/slurmctld.log "
                                   f"and slurmd.log")
            time.sleep(0.2)

    def jobs(self, keep: str | None = None) -> list[str]:
        """The ids of the jobs in the queue (pending, running, completing), but those whose name starts with
        ``keep``."""
        done = self.command("squeue", "-h", "-o", "%i %j", check=False)
        if done.returncode != 0:
            return []
        return [job for job, _, name in (line.partition(" ") for line in done.stdout.splitlines())
                if not (keep and name.startswith(keep))]

    def cancel_all(self, keep: str | None = None, timeout: float = 30) -> None:
        """Cancel every job (but those whose name starts with ``keep``) and wait until they have left the
        queue: jobs and slurmstepd outlive a killed slurmd."""
        jobs = self.jobs(keep)
        if jobs:
            self.command("scancel", *jobs, check=False)
        deadline = time.monotonic() + timeout
        while self.jobs(keep) and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        """Cancel the jobs, then terminate both daemons and wait for them; nothing is left running."""
        if self.daemons and all(d.poll() is None for d in self.daemons):
            self.cancel_all()
        for daemon in reversed(self.daemons):  # slurmd first, then the controller
            if daemon.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(daemon.pid, signal.SIGTERM)
        for daemon in self.daemons:
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait()
        self.daemons = []

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
