"""Reading files into raw string frames whose index is the source row number."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from cxresearch.errors import fail

ENCODINGS = ("utf-8-sig",)


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path; fail clearly when it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise fail(path, "file not found")
    if path.stat().st_size == 0:
        raise fail(path, "file is empty")
    return path


def read_text(path: str | Path, encoding: str = "utf-8-sig") -> str:
    """Read a text file; a wrong encoding is an error naming the line."""
    path = check_file(path)
    data = path.read_bytes()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise fail(path, f"cannot decode as {encoding} at byte {exc.start} "
                   f"({exc.reason}); pass encoding='latin-1' or the file's real encoding",
                   row=line) from None


def sniff_separator(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:20000].split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_csv_raw(path: str | Path, *, encoding: str = "utf-8-sig", sep: str | None = None,
                 header_rows: int = 1) -> pd.DataFrame:
    """Read a CSV with every cell as string; index = spreadsheet row number.

    The first header row gives the column names; further header rows (Qualtrics)
    are skipped. Row numbers count records, so the first data record is row
    ``header_rows + 1`` even when a quoted cell spans several lines.
    """
    import io

    path = check_file(path)
    text = read_text(path, encoding)
    if not text.strip():
        raise fail(path, "file is empty")
    sep = sep or sniff_separator(text)
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                         na_values=[""], skiprows=range(1, header_rows), skipinitialspace=False)
    except pd.errors.ParserError as exc:
        raise fail(path, f"not a readable CSV: {exc}") from None
    except pd.errors.EmptyDataError:
        raise fail(path, "file is empty") from None
    df.index = pd.RangeIndex(header_rows + 1, header_rows + 1 + len(df), name="row")
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_frame(path: str | Path, *, sheet: str | int = 0, encoding: str = "utf-8-sig",
               sep: str | None = None) -> pd.DataFrame:
    """Read CSV, Parquet or Excel into a raw frame indexed by spreadsheet row number."""
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        tab = "\t" if suffix == ".tsv" else None
        return read_csv_raw(path, encoding=encoding, sep=sep or tab)
    if suffix == ".parquet":
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for corrupt files
            raise fail(path, f"not a readable Parquet file: {exc}") from None
    elif suffix in (".xlsx", ".xlsm", ".xls"):
        try:
            df = pd.read_excel(path, sheet_name=sheet, dtype=str)
        except Exception as exc:  # openpyxl raises several types for corrupt files
            raise fail(path, f"not a readable Excel file: {exc}") from None
    else:
        raise fail(path, f"unknown file type '{suffix}' (expected .csv, .parquet or .xlsx)")
    df.index = pd.RangeIndex(2, 2 + len(df), name="row")
    df.columns = [str(c).strip() for c in df.columns]
    return df
