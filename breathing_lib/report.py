"""Tables of measured numbers for the book: built from the values, never typed by hand."""

from __future__ import annotations

from IPython.display import Markdown


def markdown_table(rows: list[dict], formats: dict[str, str] | None = None) -> Markdown:
    """A Markdown table; formats maps a column to a format spec such as '.2e'; None shows as 'never'."""
    if not rows:
        raise ValueError("rows must not be empty")
    formats = formats or {}
    columns = list(rows[0])

    def line(cells) -> str:  # a bare | inside a cell (|g|, |c_k|) would split it: escape it
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    lines = [line(columns), "|" + "---|" * len(columns)]
    for row in rows:
        lines.append(line("never" if row[c] is None else format(row[c], formats.get(c, "")) for c in columns))
    return Markdown("\n".join(lines))
