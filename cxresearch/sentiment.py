"""Sentiment of open comments, as a number next to the ratings.

:class:`LexiconScorer` (the default) scores Spanish and English with polarity
lexicons bundled in ``cxresearch/data/lexicons`` (no download at run time): the
OpeNER hotel-review lexicons (Apache-2.0, see the NOTICE there) plus a short
customer-experience supplement written for this project (delivery, waiting,
payment and support words the hotel lexicons lack). Matching is on lowercase
text with accents stripped on both sides, longest multiword expression first;
a negator in the three words before an expression (not across punctuation, a
contrast word or another expression) flips and halves it ("not bad" is mildly
positive), an intensifier before it scales it, and after a
contrast word ("but", "pero") the clause weighs three times the one before.

A comment's score is the weighted mean polarity of the expressions it matched,
scaled to [-1, 1]; ``sentiment_words`` counts them (0 = no evidence, score 0).

Any object with ``score(texts, language) -> np.ndarray`` (a :class:`Scorer`)
can replace it. :func:`score_comments` scores the tidy comments table per language,
:func:`with_ratings` puts each comment next to its respondent's rating and
:func:`agreement` reports how well the two agree (Spearman, per language).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy import stats

from cxresearch.schema import ValidationReport

LEXICON_DIR = ("data", "lexicons")  # inside the cxresearch package
MAX_POLARITY = 2.0  # lexicon polarities lie in [-2, 2] (strongnegative .. strongpositive)
NEGATION_WINDOW = 3  # words before an expression in which a negator applies
NEGATION_FACTOR = -0.5
CONTRAST_WEIGHTS = (0.5, 1.5)  # clause before / after the last contrast word
MIN_OPENER_POLARITY = 0.5  # drop OpeNER expressions annotated both ways about equally
OPENER_VALUES = {"strongpositive": 2.0, "positive": 1.0, "negative": -1.0,
                 "strongnegative": -2.0}

_TOKEN = re.compile(r"\w+(?:'\w+)*|[.,;:!?]")
_BREAK = frozenset(".,;:!?")


def normalize(text: str) -> str:
    """Lowercase, accents stripped, curly apostrophes straightened."""
    text = unicodedata.normalize("NFKD", str(text).lower().replace("\u2019", "'"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def tokenize(text: str) -> list[str]:
    """Words of the normalised text, with sentence punctuation as separate tokens."""
    return _TOKEN.findall(normalize(text))


# ---------------------------------------------------------------- lexicons

@dataclass(frozen=True, eq=False)
class Lexicon:
    """A language's polarity expressions and the words that modify them.

    ``polarity`` maps a normalised expression (words joined by single spaces) to
    a polarity in [-2, 2]; an expression with polarity 0 matches but counts as no
    evidence (it masks a shorter one, e.g. "por la tarde" hides "tarde").
    ``intensifiers`` map a word or phrase before an expression to a multiplier.
    """

    language: str
    polarity: Mapping[str, float]
    negators: frozenset[str] = frozenset()
    intensifiers: Mapping[str, float] = field(default_factory=dict)
    contrast: frozenset[str] = frozenset()
    source: str = ""

    def __post_init__(self) -> None:
        table = {tuple(tokenize(k)): float(v) for k, v in self.polarity.items()}
        table.pop((), None)
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_longest", max(map(len, table), default=1))
        object.__setattr__(self, "_negators", frozenset(map(normalize, self.negators)))
        object.__setattr__(self, "_boost", {tuple(tokenize(k)): float(v)
                                            for k, v in self.intensifiers.items()})
        object.__setattr__(self, "_contrast", {tuple(tokenize(k)) for k in self.contrast})

    def match(self, text: str) -> list[tuple[str, float, float, float]]:
        """Each expression matched: (expression, listed polarity, polarity after
        intensifiers and negation, weight from contrast words); polarity-0 masks omitted.
        """
        toks = tokenize(text)
        table, longest = self._table, self._longest
        found: list[tuple[int, int, float]] = []  # start, end, polarity
        contrast_at = -1
        i, n = 0, len(toks)
        while i < n:
            if toks[i] in _BREAK:
                i += 1
                continue
            for size in (2, 1):
                if tuple(toks[i:i + size]) in self._contrast:
                    contrast_at = i
            for size in range(min(longest, n - i), 0, -1):
                key = tuple(toks[i:i + size])
                if key in table:
                    found.append((i, i + size, table[key]))
                    i += size
                    break
                if size == 1 and (pol := self._inflected(key[0])) is not None:
                    found.append((i, i + 1, pol))
                    i += 1
                    break
            else:
                i += 1
        inside = {j for s, e, _ in found for j in range(s, e)}
        out = []
        for start, end, listed in found:
            if listed == 0.0:
                continue
            factor, before = self._boost_before(toks, start)
            pol = listed * factor
            if self._negated(toks, before, inside):
                pol *= NEGATION_FACTOR
            pol = max(-MAX_POLARITY, min(MAX_POLARITY, pol))
            weight = 1.0 if contrast_at < 0 else CONTRAST_WEIGHTS[start > contrast_at]
            out.append((" ".join(toks[start:end]), listed, pol, weight))
        return out

    def _inflected(self, word: str) -> float | None:
        """Polarity of another inflection of an unknown single word, if one is listed."""
        if word in self._negators or (word,) in self._boost:
            return None
        for stem, ending in _ENDINGS.get(self.language, ()):
            if word.endswith(stem) and len(word) > len(stem) + 2:
                pol = self._table.get((word[: len(word) - len(stem)] + ending,))
                if pol is not None:
                    return pol * (1.5 if "isim" in stem else 1.0)
        return None

    def _boost_before(self, toks: list[str], start: int) -> tuple[float, int]:
        """The product of the intensifiers right before ``start``, and where they begin."""
        factor, j = 1.0, start
        while j > 0:
            for size in (2, 1):
                key = tuple(toks[max(0, j - size):j])
                if len(key) == size and key in self._boost:
                    factor *= self._boost[key]
                    j -= size
                    break
            else:
                break
        return factor, j

    def _negated(self, toks: list[str], start: int, inside: set[int]) -> bool:
        for j in range(start - 1, max(-1, start - 1 - NEGATION_WINDOW), -1):
            tok = toks[j]
            if tok in _BREAK or (tok,) in self._contrast or tuple(toks[j:j + 2]) in (
                    self._contrast) or tuple(toks[max(0, j - 1):j + 1]) in self._contrast:
                return False
            if j in inside:  # another expression in between takes the negator
                return False
            if tok in self._negators or tok.endswith("n't"):
                return True
        return False


# word endings tried, in order, when a single word is not listed: (ending, replacement)
_ENDINGS = {
    "es": (("isimos", "o"), ("isimas", "a"), ("isimas", "o"), ("isimo", "o"),
           ("isima", "a"), ("isima", "o"), ("os", "o"), ("os", "a"), ("as", "a"),
           ("as", "o"), ("es", ""), ("s", ""), ("o", "a"), ("a", "o")),
    "en": (("ily", "y"), ("ly", ""), ("ies", "y"), ("es", ""), ("s", "")),
}

RULES = {  # negators, intensifiers (multiplier), contrast words
    "en": dict(
        negators={"not", "no", "never", "nothing", "nobody", "none", "neither", "nor",
                  "without", "cannot", "hardly", "barely", "dont", "didnt", "doesnt",
                  "wasnt", "werent", "isnt", "arent", "wont", "cant", "couldnt", "havent",
                  "hasnt"},
        intensifiers={"very": 1.5, "really": 1.5, "so": 1.5, "extremely": 1.75,
                      "incredibly": 1.75, "super": 1.5, "too": 1.5, "absolutely": 1.5,
                      "totally": 1.5, "completely": 1.5, "truly": 1.5, "quite": 1.25,
                      "a bit": 0.5, "a little": 0.5, "slightly": 0.5,
                      "somewhat": 0.5, "fairly": 0.75, "rather": 0.75, "kind of": 0.5,
                      "sort of": 0.5},
        contrast={"but", "however", "yet"}),
    "es": dict(
        negators={"no", "nunca", "jamas", "sin", "ni", "nada", "nadie", "tampoco",
                  "ninguno", "ninguna", "ningun", "poco", "poca", "pocos", "pocas"},
        intensifiers={"muy": 1.5, "super": 1.5, "tan": 1.5, "demasiado": 1.5,
                      "demasiada": 1.5, "realmente": 1.5, "totalmente": 1.5,
                      "increiblemente": 1.75, "extremadamente": 1.75, "bastante": 1.25,
                      "mas": 1.25, "un poco": 0.5, "algo": 0.5, "un tanto": 0.5,
                      "ligeramente": 0.5},
        contrast={"pero", "sin embargo", "aunque", "sino"}),
}


def read_lexicon_file(path: str | Path | Iterable[str]) -> dict[str, float]:
    """Read a ``expression<TAB>polarity[<TAB>...]`` file (``#`` comments, header allowed)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines() if isinstance(
        path, (str, Path)) else list(path)
    out: dict[str, float] = {}
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        expr, value, *_ = line.split("\t")
        if expr == "expression":
            continue
        out[expr] = float(value)
    return out


@cache
def bundled_lexicon(language: str) -> Lexicon:
    """The bundled lexicon of ``language`` ("es" or "en"): OpeNER, then the CX supplement."""
    if language not in RULES:
        raise LookupError(f"no bundled sentiment lexicon for language '{language}' "
                          f"(bundled: {', '.join(sorted(RULES))})")
    names = (f"opener_{language}.tsv", f"cx_{language}.tsv")
    polarity: dict[str, float] = {}
    for name in names:
        polarity.update(read_lexicon_file(_bundled(name).splitlines()))
    return Lexicon(language, polarity, source=" + ".join(names), **RULES[language])


def _bundled(name: str) -> str:
    return resources.files("cxresearch").joinpath(*LEXICON_DIR, name).read_text(
        encoding="utf-8")


def build_opener_lexicon(expressions_csv: str | Path, language: str,
                         dropped: Iterable[str] | None = None) -> pd.DataFrame:
    """A word/phrase -> polarity table from an OpeNER ``expressions.csv``.

    Expressions are tokenised as the scorer does (trailing punctuation dropped);
    those joining two sentences ("great.and") or holding numbers (hotel prices
    and distances) are left out, and so are those made only of ``dropped`` words
    (by default the bundled ``opener_dropped_<language>.txt``: function words and
    hotel location, size and amenity words). Polarity is the mean of the annotations
    (strongpositive 2 .. strongnegative -2) weighted by how often each was given;
    expressions annotated both ways about equally (|mean| < 0.5) are left out.
    """
    if dropped is None:
        text = _bundled(f"opener_dropped_{language}.txt")
        dropped = [w for line in text.splitlines() if not line.startswith("#")
                   for w in line.split()]
    stop = frozenset(normalize(w) for w in dropped)
    raw = pd.read_csv(expressions_csv, sep=";", dtype=str, keep_default_na=False)
    parts = raw["exp#pol"].str.rsplit("#", n=1)
    expr, pol = parts.str[0], parts.str[1]
    rows = []
    for e, p, freq in zip(expr, pol, raw["RelatFreq"].astype(int), strict=True):
        toks = tokenize(e)
        while toks and toks[-1] in _BREAK:
            toks.pop()
        while toks and toks[0] in _BREAK:
            toks.pop(0)
        if not toks or any(t in _BREAK or any(c.isdigit() for c in t) for t in toks):
            continue
        if all(t in stop for t in toks):
            continue
        shown = " ".join(re.findall(r"\w+(?:'\w+)*", e.lower().replace("\u2019", "'")))
        rows.append((" ".join(toks), shown, OPENER_VALUES[p], max(freq, 1)))
    df = pd.DataFrame(rows, columns=["key", "expression", "value", "count"])
    df["weighted"] = df["value"] * df["count"]
    g = df.groupby("key", sort=True).agg(expression=("expression", "first"),
                                         weighted=("weighted", "sum"), count=("count", "sum"))
    g["polarity"] = (g["weighted"] / g["count"]).round(2)
    g = g[g["polarity"].abs() >= MIN_OPENER_POLARITY]
    return g.reset_index()[["expression", "polarity", "count"]]


# ---------------------------------------------------------------- scorers

@runtime_checkable
class Scorer(Protocol):
    """Anything that scores texts of one language in [-1, 1] (NaN = cannot score).

    A scorer may also have ``languages`` (the languages it handles; others are
    not sent to it) and ``evidence(texts, language)`` (how many sentiment words
    each text matched), which :func:`score_comments` uses when present. VADER
    (``pip install vaderSentiment``, English only) plugs in like this::

        class Vader:
            languages = {"en"}
            def __init__(self):
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
                self.analyzer = SentimentIntensityAnalyzer()
            def score(self, texts, language):
                return np.array([self.analyzer.polarity_scores(t)["compound"]
                                 for t in texts])
    """

    def score(self, texts: Sequence[str], language: str) -> np.ndarray: ...


class LexiconScorer:
    """Lexicon-based scorer; the bundled Spanish and English lexicons by default.

    ``lexicons`` adds or replaces languages (a :class:`Lexicon` per language code).
    Scores are the weighted mean polarity of the matched expressions / 2, in [-1, 1].
    """

    def __init__(self, lexicons: Mapping[str, Lexicon] | None = None,
                 languages: Iterable[str] = ("es", "en")) -> None:
        self._given = dict(lexicons or {})
        self.languages = frozenset(self._given) | frozenset(languages)

    def lexicon(self, language: str) -> Lexicon:
        if language in self._given:
            return self._given[language]
        if language not in self.languages:
            raise LookupError(f"LexiconScorer has no lexicon for language '{language}'")
        return bundled_lexicon(language)

    def details(self, texts: Sequence[str], language: str) -> tuple[np.ndarray, np.ndarray]:
        """Scores in [-1, 1] (NaN for a missing text) and the number of sentiment
        expressions matched per text."""
        lex = self.lexicon(language)
        scores = np.zeros(len(texts))
        counts = np.zeros(len(texts), dtype=np.int64)
        for k, text in enumerate(texts):
            if not isinstance(text, str):
                scores[k] = np.nan
                continue
            if m := lex.match(text):
                vals, wts = np.array([x[2] for x in m]), np.array([x[3] for x in m])
                scores[k] = float(vals @ wts / wts.sum()) / MAX_POLARITY
                counts[k] = len(m)
        return scores, counts

    def score(self, texts: Sequence[str], language: str) -> np.ndarray:
        """Scores in [-1, 1]; 0 when no expression matched, NaN for a missing text."""
        return self.details(texts, language)[0]

    def explain(self, text: str, language: str) -> pd.DataFrame:
        """The expressions one text matched, with their listed and applied polarity."""
        return pd.DataFrame(self.lexicon(language).match(text),
                            columns=["expression", "listed", "applied", "weight"])

    def evidence(self, texts: Sequence[str], language: str) -> np.ndarray:
        """The number of sentiment expressions each text matched (0 = no evidence)."""
        return self.details(texts, language)[1]


# ---------------------------------------------------------------- comments table

NO_LANGUAGE = "(none)"
LANGUAGE_NAMES = {"english": "en", "ingles": "en", "spanish": "es", "espanol": "es",
                  "castellano": "es"}


def _language_code(value: object, default: str) -> str:
    """"es-MX", "ES", " es_es ", "Español" -> "es"; missing or blank -> ``default``."""
    if not isinstance(value, str) or not value.strip():
        return default
    code = re.split(r"[-_]", normalize(value.strip()))[0]
    return LANGUAGE_NAMES.get(code, code)


def score_comments(comments: pd.DataFrame, scorer: Scorer | None = None,
                   default_language: str = "en",
                   report: ValidationReport | None = None) -> pd.DataFrame:
    """The comments with ``sentiment`` (float in [-1, 1]) and ``sentiment_words`` added.

    Each comment is scored in its ``language`` (primary subtag, so "es-MX" is
    Spanish; missing or absent column -> ``default_language``). Comments in a
    language the scorer does not handle get NaN, never 0, and a note (in
    ``report.notes`` when given, and in ``result.attrs["notes"]``).
    ``sentiment_words`` is <NA> when the scorer does not report its evidence.
    """
    if "text" not in comments.columns:
        raise ValueError("score_comments needs the comments table (a 'text' column)")
    scorer = scorer if scorer is not None else LexiconScorer()
    out = comments.copy()
    if "language" in out.columns:
        langs = pd.Series([_language_code(v, default_language) for v in out["language"]],
                          index=out.index)
    else:
        langs = pd.Series(default_language, index=out.index)
    score = np.full(len(out), np.nan)
    words = pd.array([pd.NA] * len(out), dtype="Int64")
    handled = getattr(scorer, "languages", None)
    evidence = getattr(scorer, "evidence", None)
    notes = []
    pos = np.arange(len(out))
    for lang in sorted(langs.unique()):
        rows = pos[(langs == lang).to_numpy()]
        texts = out["text"].iloc[rows].tolist()
        if handled is not None and lang not in handled:
            notes.append(f"sentiment: {len(rows)} comments in language '{lang}' not scored "
                         f"(NaN): {type(scorer).__name__} has no lexicon for it")
            continue
        if isinstance(scorer, LexiconScorer):
            s, c = scorer.details(texts, lang)
        else:
            s = np.asarray(scorer.score(texts, lang), dtype=float)
            c = None if evidence is None else np.asarray(evidence(texts, lang))
        if s.shape != (len(rows),):
            raise ValueError(f"{type(scorer).__name__}.score returned {s.shape} scores "
                             f"for {len(rows)} texts")
        score[rows] = np.clip(s, -1.0, 1.0)
        if c is not None:
            words[rows] = pd.array(c, dtype="Int64")
            words[rows[np.isnan(s)]] = pd.NA
        if (missing := int(np.isnan(s).sum())):
            notes.append(f"sentiment: {missing} comments in language '{lang}' could not be "
                         f"scored (NaN) by {type(scorer).__name__}")
    out["sentiment"] = score
    out["sentiment_words"] = words
    out.attrs["notes"] = notes
    if report is not None:
        report.notes.extend(notes)
    return out


def _rating_positions(ratings: pd.DataFrame, item: str | None) -> tuple[pd.DataFrame, list[str]]:
    notes = []
    r = ratings
    if item is not None:
        r = r[r["item"] == item]
    value = pd.to_numeric(r["value"], errors="coerce").astype(float)
    if {"scale_min", "scale_max"} <= set(r.columns):
        lo = pd.to_numeric(r["scale_min"], errors="coerce").astype(float)
        hi = pd.to_numeric(r["scale_max"], errors="coerce").astype(float)
    else:
        lo = hi = pd.Series(np.nan, index=r.index)
    if bool((hi > lo).all()):  # NaN compares False: every scale must be known
        pos = (value - lo) / (hi - lo)
    else:
        pos = value
        notes.append("agreement: rating scale (scale_min, scale_max) missing for some "
                     "ratings: raw values compared, not positions on the scale")
    out = pd.DataFrame({"respondent_id": r["respondent_id"].astype(str),
                        "touchpoint": r["touchpoint"].astype(str), "rating": pos})
    return out.dropna(subset=["rating"]), notes


def with_ratings(scored_comments: pd.DataFrame, ratings: pd.DataFrame,
                 item: str | None = None) -> pd.DataFrame:
    """Each scored comment with the rating it should agree with.

    ``rating`` is the respondent's rating at the comment's touchpoint as a
    position on its scale (0 = scale minimum, 1 = maximum; the mean over items
    unless ``item`` names one); for a comment without touchpoint it is the
    respondent's mean over all their ratings. ``rating_source`` says which
    ("touchpoint", "respondent mean", or missing when there is no such rating).
    """
    pos, notes = _rating_positions(ratings, item)
    at_tp = pos.groupby(["respondent_id", "touchpoint"], as_index=False)["rating"].mean()
    mean = pos.groupby("respondent_id", as_index=False)["rating"].mean()
    out = scored_comments.copy()
    out["_rid"] = out["respondent_id"].astype(str)
    has_tp = out["touchpoint"].notna() if "touchpoint" in out else pd.Series(False, out.index)
    tp = out["touchpoint"].astype(str) if "touchpoint" in out else pd.Series("", out.index)
    keyed = pd.DataFrame({"_rid": out["_rid"], "touchpoint": tp})
    r_tp = keyed.merge(at_tp.rename(columns={"respondent_id": "_rid"}),
                       on=["_rid", "touchpoint"], how="left")["rating"].to_numpy()
    r_mean = out[["_rid"]].merge(mean.rename(columns={"respondent_id": "_rid"}), on="_rid",
                                 how="left")["rating"].to_numpy()
    rating = np.where(has_tp.to_numpy(), r_tp, r_mean)
    source = np.where(has_tp.to_numpy(), "touchpoint", "respondent mean").astype(object)
    source[np.isnan(rating)] = None
    out["rating"] = rating
    out["rating_source"] = pd.Series(source, index=out.index, dtype="str")
    out.attrs["notes"] = list(scored_comments.attrs.get("notes", [])) + notes
    return out.drop(columns="_rid")


def _spearman_row(label: str, s: np.ndarray, r: np.ndarray, level: float) -> dict:
    n = len(s)
    low, high = f"fisher{100 * level:g}_low", f"fisher{100 * level:g}_high"
    row = {"language": label, "n": n, "spearman": np.nan, low: np.nan, high: np.nan,
           "p_value": np.nan}
    if n >= 4 and np.ptp(s) > 0 and np.ptp(r) > 0:
        rho, p = stats.spearmanr(s, r)
        # Fisher z with the Fieller-Hartley-Pearson variance 1.06 / (n - 3) for Spearman
        z, se = np.arctanh(min(max(rho, -0.999999), 0.999999)), math.sqrt(1.06 / (n - 3))
        q = stats.norm.ppf(0.5 + level / 2)
        row.update({"spearman": float(rho), low: float(np.tanh(z - q * se)),
                    high: float(np.tanh(z + q * se)), "p_value": float(p)})
    return row


def agreement(scored_comments: pd.DataFrame, ratings: pd.DataFrame, *,
              item: str | None = None, level: float = 0.9,
              min_words: int = 0) -> pd.DataFrame:
    """Spearman correlation of comment sentiment with the same respondent's rating.

    One row per language (``(none)`` for comments without one) and one for all
    ("all"): ``n`` comments used (scored and
    with a rating; with at least ``min_words`` sentiment words when the scorer
    reports them), ``spearman``, its ``level`` interval (``fisher90_low`` and
    ``fisher90_high`` at level 0.9; Fisher z, variance 1.06/(n-3)), ``p_value``,
    ``with_evidence`` (share of those comments with at least one sentiment word) and
    ``unmatched`` (scored comments without a rating).
    See :func:`with_ratings` for which rating a comment is compared with.
    """
    joined = with_ratings(scored_comments, ratings, item=item)
    lang = (joined["language"].map(lambda v: _language_code(v, NO_LANGUAGE))
            if "language" in joined else pd.Series(NO_LANGUAGE, index=joined.index))
    scored = joined["sentiment"].notna()
    words = joined.get("sentiment_words")
    keep = scored & joined["rating"].notna()
    if words is not None and min_words > 0:
        keep &= words.fillna(min_words).astype(float) >= min_words
    rows = []
    for label in [*sorted(lang[scored].unique()), "all"]:
        sel = lang == label if label != "all" else pd.Series(True, index=joined.index)
        use = joined[keep & sel]
        row = _spearman_row(label, use["sentiment"].to_numpy(float),
                            use["rating"].to_numpy(float), level)
        row["with_evidence"] = (float((use["sentiment_words"].fillna(0) > 0).mean())
                                if words is not None and len(use) else np.nan)
        row["unmatched"] = int((scored & sel & joined["rating"].isna()).sum())
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["interval"] = f"{level:.0%} Fisher z interval, variance 1.06/(n-3)"
    out.attrs["notes"] = joined.attrs.get("notes", [])
    return out
