"""One self-contained HTML report: inline CSS, images as base64 PNG data URIs, no external assets.

The file opens offline in any browser and can be mailed or attached as it is. A report is a title
and a list of `Section`s; each section may carry text, one image with a caption, and a small table.
"""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       background: #fafafa; margin: 0; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 26px; margin: 8px 0 4px; }
.subtitle { color: #666; margin: 0 0 16px; }
nav { font-size: 13px; margin: 0 0 8px; color: #666; }
nav a { color: #2458b3; text-decoration: none; margin-right: 12px; }
section { background: #fff; border: 1px solid #e3e3e3; border-radius: 8px; padding: 14px;
          margin: 16px 0; }
h2 { font-size: 19px; margin: 2px 0 8px; }
p { margin: 6px 0 10px; }
figure { margin: 8px 0 4px; text-align: center; }
figure img { max-width: 100%; height: auto; }
img.pixelated { image-rendering: pixelated; image-rendering: crisp-edges; }
figcaption { font-size: 13px; color: #555; margin-top: 4px; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0; }
th, td { text-align: left; padding: 4px 12px 4px 0; border-bottom: 1px solid #eee; vertical-align: top; }
th { font-weight: 600; border-bottom: 2px solid #ddd; }
td.num { font-variant-numeric: tabular-nums; text-align: right; }
footer { font-size: 12px; color: #888; margin-top: 24px; }
"""


@dataclass(frozen=True)
class Section:
    """One block of the report.

    Args:
        heading: the section title (also its entry in the table of contents).
        text: a paragraph of plain text (escaped; blank lines start new paragraphs).
        image: PNG bytes to embed, or None.
        caption: the image's caption (also its alt text).
        rows: table rows, each a sequence of cells (numbers are formatted, everything is escaped).
        header: the table's column names, or () for none.
        pixelated: show the image with nearest-neighbour scaling (for small-pixel grids, not plots).
    """

    heading: str
    text: str = ""
    image: bytes | None = None
    caption: str = ""
    rows: Sequence[Sequence[Any]] = ()
    header: Sequence[str] = ()
    pixelated: bool = False


def format_cell(value: Any) -> str:
    """A table cell as text: floats with 4 significant digits, everything else with str()."""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def png_data_uri(png: bytes) -> str:
    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("Section.image must be PNG bytes (e.g. from genlab.viz.grid.png_bytes or viz.plots)")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _anchor(i: int) -> str:
    return f"s{i + 1}"


def _table(section: Section) -> str:
    if not section.rows:
        return ""
    e = html.escape
    out = ["<table>"]
    if section.header:
        out.append("<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in section.header) + "</tr>")
    for row in section.rows:
        cells = []
        for v in row:
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{e(format_cell(v))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_section(section: Section, index: int) -> str:
    """The HTML of one section."""
    e = html.escape
    parts = [f'<section id="{_anchor(index)}">', f"<h2>{e(section.heading)}</h2>"]
    for para in (p.strip() for p in section.text.split("\n\n")):
        if para:
            parts.append(f"<p>{e(para)}</p>")
    if section.image is not None:
        cls = ' class="pixelated"' if section.pixelated else ""
        alt = e(section.caption or section.heading, quote=True)
        parts.append(f'<figure><img{cls} src="{png_data_uri(section.image)}" alt="{alt}">')
        if section.caption:
            parts.append(f"<figcaption>{e(section.caption)}</figcaption>")
        parts.append("</figure>")
    parts.append(_table(section))
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def render_report(*, title: str, sections: Sequence[Section], subtitle: str = "") -> str:
    """The whole report as one HTML string."""
    e = html.escape
    toc = " ".join(f'<a href="#{_anchor(i)}">{e(s.heading)}</a>' for i, s in enumerate(sections))
    body = "\n".join(render_section(s, i) for i, s in enumerate(sections))
    from genlab.version import __version__

    stamp = time.strftime("%Y-%m-%d %H:%M")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body><main>",
        f"<h1>{e(title)}</h1>",
        f'<p class="subtitle">{e(subtitle)}</p>' if subtitle else "",
        f"<nav>{toc}</nav>" if len(sections) > 1 else "",
        body,
        f"<footer>Generated by genlab {e(__version__)} on {e(stamp)}.</footer>",
        "</main></body>",
        "</html>",
        "",
    ])


def write_report(path: str | Path, *, title: str, sections: Sequence[Section], subtitle: str = "") -> Path:
    """Write the report as one self-contained HTML file, atomically; returns its path.

    Args:
        path: the .html file to write (its folder is created).
        title: the page title and top heading.
        sections: the report's sections, in order.
        subtitle: one line under the title (e.g. the dataset and model), or "".
    """
    from genlab.io import atomic_write_bytes

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, render_report(title=title, sections=sections, subtitle=subtitle).encode("utf-8"))
    return path


__all__ = ["Section", "format_cell", "png_data_uri", "render_report", "render_section", "write_report"]
