"""Free text from respondents made safe to show: HTML-escaped, personal data redacted."""

from __future__ import annotations

import html
import re

import pandas as pd

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 9+ digits with the usual separators: phone numbers, not dates (8 digits) or years.
PHONE = re.compile(r"(?<![\w+])\+?\d(?:[\s().-]{0,2}\d){8,}(?!\w)")


def redact(text: str) -> str:
    """Replace e-mail addresses and phone numbers with placeholders."""
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


def safe(text: object, redact_personal: bool = True) -> str:
    """Text ready for HTML: personal data redacted (unless asked not to), then escaped."""
    text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    return html.escape(redact(text) if redact_personal else text)


def redact_frame(df: pd.DataFrame, columns: list[str],
                 redact_personal: bool = True) -> pd.DataFrame:
    """Redact the named free-text columns (missing text stays missing).

    Escaping is left to the HTML writer: ``DataFrame.to_html`` escapes by default; a
    ``Styler`` needs ``.format(escape="html")``.
    """
    out = df.copy()
    if redact_personal:
        for col in columns:
            out[col] = out[col].map(redact, na_action="ignore")
    return out
