"""Markdown to a self-contained HTML page (markdown-it-py), for the report and the comparison page."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from markdown_it import MarkdownIt


def markdown_to_html(text: str) -> str:
    """``text`` (CommonMark with tables) as HTML. Raw HTML in it is escaped, never passed through: the text holds
    names and values read back from MLflow."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(text)


def html_page(title: str, markdown: str, css: str) -> str:
    """A whole HTML page: ``markdown`` rendered, under ``title``, styled by ``css``."""
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{css}</style></head><body>\n{markdown_to_html(markdown)}</body></html>\n"
    )


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: Sequence[str] = ()) -> str:
    """A Markdown table, its lines joined; ``align`` holds the first columns' rules (``---:`` right-aligns), the
    rest are left-aligned. A ``|`` inside a cell is escaped."""
    rules = [*align, *["---"] * (len(header) - len(align))]
    lines = [header, rules, *rows]
    return "\n".join("| " + " | ".join(str(cell).replace("|", "\\|") for cell in line) + " |" for line in lines)
