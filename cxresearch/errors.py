"""Errors and problems that name the file, the row and the column.

Row numbers follow what a spreadsheet shows: the header is row 1 and the first
data record is row 2 (for a Qualtrics export with three header rows, the first
response is row 4). For XML sources the "row" names the element instead.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

MAX_LISTED = 20
_INTERNAL = (str(Path(__file__).parent), contextlib.__file__)


def warn(message: str) -> None:
    """A UserWarning that points at the first line outside cxresearch: the caller's."""
    warnings.warn(message, UserWarning, skip_file_prefixes=_INTERNAL)


@dataclass(frozen=True)
class Problem:
    """One finding about an input: where it is and what is wrong."""

    file: str
    message: str
    row: int | str | None = None
    column: str | None = None
    severity: str = "error"  # "error", "excluded" (row dropped on request) or "warning"

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        return f"{', '.join(where)}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


class InputError(ValueError):
    """Bad input. The message names the file and, where there is one, the row and column."""

    def __init__(self, problems: Problem | list[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        first = self.problems[0]
        self.file, self.row, self.column = first.file, first.row, first.column
        lines = [str(p) for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"... and {len(self.problems) - MAX_LISTED} more problems")
        super().__init__("\n".join(lines))


def fail(file: str | Path, message: str, row: int | str | None = None,
         column: str | None = None) -> InputError:
    """Build an InputError for one problem (``raise fail(...)``)."""
    return InputError(Problem(str(file), message, row, column))
