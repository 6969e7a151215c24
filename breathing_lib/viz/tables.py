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


def html_table(rows: list[dict], formats: dict[str, str] | None = None, *, labels: dict[str, str] | None = None,
               groups: list[tuple[str, int]] | None = None, css_class: str = "table", missing: str = "–") -> str:
    """An HTML table (a string: glue it wrapped in IPython's HTML); formats as in markdown_table,
    None shows as `missing`.

    labels, optional: the header shown for a column key (default: the key itself), so two
    groups can share headers. groups, optional: a first header row of (title, number of
    columns it spans), covering the columns left to right. Every cell is HTML-escaped.
    """
    import html

    if not rows:
        raise ValueError("rows must not be empty")
    formats = formats or {}
    columns = list(rows[0])
    if any(list(row) != columns for row in rows):
        raise ValueError("every row must have the same columns, in the same order")
    head = ""
    if groups is not None:
        if sum(span for _, span in groups) != len(columns) or any(span < 1 for _, span in groups):
            raise ValueError(f"groups must span the {len(columns)} columns, got spans {[s for _, s in groups]}")
        head = "<tr>" + "".join(f'<th colspan="{span}">{html.escape(title)}</th>' for title, span in groups) + "</tr>"
    labels = labels or {}
    head += "<tr>" + "".join(f"<th>{html.escape(str(labels.get(c, c)))}</th>" for c in columns) + "</tr>"

    def cell(row, c) -> str:
        return missing if row[c] is None else format(row[c], formats.get(c, ""))

    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(row, c))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f'<table class="{html.escape(css_class)}"><thead>{head}</thead><tbody>{body}</tbody></table>'
