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


def safe_frame(df: pd.DataFrame, columns: list[str], redact_personal: bool = True) -> pd.DataFrame:
    """Redact the named free-text columns (escaping is left to the HTML writer)."""
    out = df.copy()
    for col in columns:
        if redact_personal:
            out[col] = out[col].astype("str").map(redact)
    return out
