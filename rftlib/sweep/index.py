"""``<sweep>/reports/index.html``: one page linking every report and every run's rendered notebook."""
from __future__ import annotations

import html
import os
from datetime import datetime
from pathlib import Path

from rftlib.sweep.jobs import NAME_KEYS, Job
from rftlib.sweep.spec import Sweep

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}
.done{color:#17803d}.failed{color:#b42318}.started,.todo,.running,.unfinished{color:#8a6d00}"""


def _link(job: Job, start: Path) -> str:
    """A link to the job's render (or, failing that, its log), relative to ``start``."""
    for suffix in (".html", ".log"):
        path = job.output.with_suffix(suffix)
        if path.exists():
            href = html.escape(os.path.relpath(path, start))
            return f'<a href="{href}">{html.escape(job.name)}</a>'
    return html.escape(job.name)


def _row(job: Job, start: Path, extra: str = "") -> str:
    status = job.status()
    return f'<tr><td>{_link(job, start)}</td><td class="{status}">{status}</td>{extra}</tr>'


def write_index(sweep: Sweep) -> Path:
    """Write the index page of ``sweep`` (statuses as they are on disk now) and return its path."""
    folder = sweep.root / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    keys = [k for k in NAME_KEYS if any(k in run.summary for run in sweep.runs)]
    run_rows = "\n".join(
        _row(run, folder, "".join(f"<td>{html.escape(str(run.summary.get(k, '')))}</td>" for k in keys))
        for run in sweep.runs)
    report_rows = "\n".join(_row(report, folder) for report in sweep.reports)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(sweep.name)}: reports</title><style>{_STYLE}</style></head>
<body><h1>Sweep {html.escape(sweep.name)}</h1>
<p>From {html.escape(str(sweep.path))}, written {datetime.now():%Y-%m-%d %H:%M}.</p>
<h2>Reports</h2>
<table><tr><th>report</th><th>status</th></tr>
{report_rows}
</table>
<h2>Runs ({len(sweep.runs)})</h2>
<table><tr><th>run</th><th>status</th>{"".join(f"<th>{html.escape(k)}</th>" for k in keys)}</tr>
{run_rows}
</table></body></html>
"""
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
