"""Write a notebook from a list of cells: a small aid for authoring the report templates.

Usage in a throwaway script:
``write_notebook(path, [md("# Title"), params("x = 1"), code("...")])``.
The committed .ipynb files are the source of truth; this only saves typing JSON.
"""

from __future__ import annotations

import nbformat


def md(text: str):
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str):
    return nbformat.v4.new_code_cell(text.strip())


def params(text: str):
    cell = nbformat.v4.new_code_cell(text.strip())
    cell.metadata["tags"] = ["parameters"]
    return cell


def write_notebook(path: str, cells: list, title: str | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    if title:
        nb.metadata["title"] = title
    nb.cells = cells
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, path)
