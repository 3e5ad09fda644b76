"""``<sweep>/reports/index.html``: what the sweep found, one line per report and per run.

Each report's line is its headline, the first sentence of the summary it opens with, read back from the
executed notebook (``rftlib.analysis.findings`` stores it in the output's metadata); each run's line gives
its role (``rftlib.runs.roles``), its status, its RQ1 headline and a link to its MLflow run. Where the sweep
is tracked, the page links the MLflow UI and says how to open it (``rftlib.tracking.links``).
"""
from __future__ import annotations

import html
import json
import os
import re
from datetime import datetime
from pathlib import Path

from rftlib.runs.roles import role_text, task_name
from rftlib.sweep.jobs import Job
from rftlib.sweep.spec import Sweep

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:90em;padding:0 1.5em;line-height:1.4}
table{border-collapse:collapse;width:100%}td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;
vertical-align:top}th{background:#f6f6f6}td.headline{min-width:30em;font-size:.9em}
td.run{font-size:.8em;overflow-wrap:anywhere;max-width:16em}code{background:#f4f4f4;padding:0 .2em}
.done{color:#17803d}.failed{color:#b42318}.started,.todo,.running,.unfinished{color:#8a6d00}"""
HEADLINE_KEY = "rftlib"


def headline(notebook: Path) -> str | None:
    """The headline an executed report stored in its outputs' metadata (``Findings``), else None."""
    try:
        cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return None
    for cell in cells:
        for output in cell.get("outputs", []):
            for meta in [output.get("metadata") or {}, *(output.get("metadata") or {}).values()]:
                if isinstance(meta, dict) and isinstance(meta.get(HEADLINE_KEY), dict):
                    return meta[HEADLINE_KEY].get("headline")
    return None


def _link(job: Job, start: Path) -> str:
    """A link to the job's render (or, failing that, its log), relative to ``start``."""
    for suffix in (".html", ".log"):
        path = job.output.with_suffix(suffix)
        if path.exists():
            href = html.escape(os.path.relpath(path, start))
            return f'<a href="{href}">{html.escape(job.name)}</a>'
    return html.escape(job.name)


def _mlflow_cell(job: Job, uri: str | None) -> str:
    from rftlib.tracking.links import run_id, run_url

    found = run_id(job.directory, uri) if uri else None
    return f'<a href="{html.escape(run_url(uri, found))}">run</a>' if found else ""


def _tracking_line(sweep: Sweep) -> tuple[str | None, str]:
    """The store's URI (None untracked) and the page's sentence about MLflow."""
    if getattr(sweep, "tracking", None) is None:
        return None, "<p>Not tracked in MLflow (the sweep has no <code>tracking</code>).</p>"
    from rftlib.runs.tracking_options import store_uri
    from rftlib.tracking.links import experiment_url, run_url, sweep_ids, viewer_hint

    uri = store_uri(sweep.tracking.uri)
    ids = sweep_ids(sweep.root, uri)
    experiment = sweep.tracking.experiment or sweep.name
    hint = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(viewer_hint(uri)))
    parts = [f'MLflow: experiment <a href="{html.escape(experiment_url(uri, ids.get("experiment_id")))}">'
             f"{html.escape(experiment)}</a> in <code>{html.escape(uri)}</code> ({hint})"]
    if ids.get("run_id"):
        parts.append(f'the reports are attached to its run <a href="{html.escape(run_url(uri, ids["run_id"]))}">'
                     f"sweep {html.escape(sweep.name)}</a>")
    return uri, "<p>" + "; ".join(parts) + ".</p>"


def write_index(sweep: Sweep) -> Path:
    """Write the index page of ``sweep`` (statuses and headlines as they are on disk now); return its path."""
    folder = sweep.root / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    uri, tracking = _tracking_line(sweep)
    report_rows = []
    for report in sweep.reports:
        status = report.status()
        line = headline(report.output) if report.output.exists() else None
        report_rows.append(f'<tr><td>{_link(report, folder)}</td><td class="{status}">{status}</td>'
                           f'<td class="headline">{html.escape(line or "")}</td></tr>')
    models = {str((run.config or {}).get("model", "")) for run in sweep.runs}
    several = len(models) > 1  # the backbone tells two runs of one task and strategy apart
    run_rows = []
    for run in sweep.runs:
        status = run.status()
        config = run.config or {}
        role = role_text(config) if config else ""
        task = task_name(config) if config else ""
        if several and config:
            task += f" · {config.get('model', '')}"
        line = headline(run.output) if run.output.exists() else None
        run_rows.append(f'<tr><td class="run">{_link(run, folder)}</td><td>{html.escape(role)}</td>'
                        f'<td class="{status}">{status}</td><td>{html.escape(str(config.get("strategy", "")))}</td>'
                        f"<td>{html.escape(task)}</td><td>{_mlflow_cell(run, uri)}</td>"
                        f'<td class="headline">{html.escape(line or "")}</td></tr>')
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(sweep.name)}: reports</title><style>{_STYLE}</style></head>
<body><h1>Sweep {html.escape(sweep.name)}</h1>
<p>From {html.escape(str(sweep.path))}, written {datetime.now():%Y-%m-%d %H:%M}.</p>
{tracking}
<h2>Reports</h2>
<table><tr><th>report</th><th>status</th><th>what it found</th></tr>
{chr(10).join(report_rows)}
</table>
<h2>Runs ({len(sweep.runs)})</h2>
<table><tr><th>run</th><th>role</th><th>status</th><th>strategy</th><th>task</th><th>MLflow</th><th>what it found</th></tr>
{chr(10).join(run_rows)}
</table></body></html>
"""
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
