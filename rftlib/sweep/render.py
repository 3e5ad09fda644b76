"""A report's HTML: an executed notebook rendered for reading, its code cells hidden (the executed ``.ipynb``
beside it keeps them), figures embedded, in a small page of its own.

nbconvert's "lab" template embeds ~270 kB of JupyterLab's stylesheet and scripts from a CDN in every page; a
report needs none of it. Here the "basic" template gives the cells' HTML and ``STYLE`` (a few kB) styles it,
so a report's size is its figures and tables, and the page opens offline. Outputs of cells tagged
``remove_output`` (a run's progress bar) are left out.
"""
from __future__ import annotations

import html
from pathlib import Path

REMOVE_OUTPUT_TAG = "remove_output"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.45;margin:2em auto;max-width:64em;
  padding:0 1.5em;color:#1d1d1f}
h1{font-size:1.7em;margin-top:0}h2{font-size:1.3em;margin-top:1.8em;border-bottom:1px solid #e5e5e5}
h3{font-size:1.1em;margin-top:1.4em}
code{font-size:.92em;background:#f4f4f4;padding:0 .2em;border-radius:3px}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
pre{white-space:pre-wrap;overflow-wrap:normal;word-break:normal;font-size:.85em;background:#fafafa;
  padding:.5em .7em;border-left:3px solid #ddd}
table{border-collapse:collapse;border:none;font-size:.88em;margin:.6em 0;display:block;overflow-x:auto;max-width:100%}
th,td{padding:.25em .7em;border:none;border-bottom:1px solid #e3e3e3;text-align:right;white-space:nowrap}
th{background:#f6f6f6;text-align:center}tbody th{text-align:left}
.output_stderr pre{border-left-color:#e0b000;background:#fffbea}
"""


def render_report(notebook: str | Path) -> Path:
    """Render ``notebook`` (executed) to ``<notebook>.html`` beside it, without its code; returns the path."""
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    from traitlets.config import Config

    notebook = Path(notebook)
    config = Config()
    config.TagRemovePreprocessor.remove_all_outputs_tags = {REMOVE_OUTPUT_TAG}
    config.TagRemovePreprocessor.enabled = True
    exporter = HTMLExporter(config=config, template_name="basic", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, exclude_anchor_links=True)
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    body, _ = exporter.from_filename(str(notebook))
    title = html.escape(_title(notebook))
    page = (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>\n'
            f"<body>\n{body}\n</body></html>\n")
    path = notebook.with_suffix(".html")
    path.write_text(page, encoding="utf-8")
    return path


def _title(notebook: Path) -> str:
    """The first heading of the notebook's first markdown cell, else its name."""
    import json

    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return notebook.stem
    where = f" ({notebook.parent.name})" if notebook.stem == "notebook" else ""  # a run's notebook: its run
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip() + where
    return notebook.stem + where


__all__ = ["REMOVE_OUTPUT_TAG", "STYLE", "render_report"]
