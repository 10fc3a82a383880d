"""Mixed methods: qualitative codes joined to respondents, touchpoints and ratings.

:func:`link_codings` joins every coded excerpt to a respondent and a touchpoint and
reports, by reason, the codings it could not link (never dropped silently). On the
linked codings: :func:`code_mentions` (who mentions what, where, in which segment),
:func:`cooccurrence` (codes mentioned by the same respondents) and
:func:`emotion_gap` (mean rating of those who mention a code against those who rated
the touchpoint and do not; descriptive, not causal). The Bayesian answer to "which
codes go with better or worse emotion" is :mod:`cxresearch.models.causes`;
:func:`joint_display` puts the two side by side with exemplar quotes, and
:func:`to_html` renders it with every quote HTML-escaped.

study.yml keys read here (both optional)::

    code_touchpoints:            # code (name, label or path) -> touchpoint;
      Delivery problems: delivery   # codes below a mapped code inherit its touchpoint
    source_respondents:          # source (document) -> respondent id, for codings
      interview_07.txt: R000123  # that carry no respondent of their own
"""

from __future__ import annotations

import html
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cxresearch.models.base import interval_names
from cxresearch.text import redact as redact_text

NO_RESPONDENT = "no respondent"
UNKNOWN_RESPONDENT = "respondent not in respondents table"
NO_TOUCHPOINT = "no touchpoint"
UNKNOWN_TOUCHPOINT = "touchpoint not in the journey map"
REASONS = (NO_RESPONDENT, UNKNOWN_RESPONDENT, NO_TOUCHPOINT, UNKNOWN_TOUCHPOINT)
DESCRIPTIVE = ("descriptive, not causal: people who mention a code may differ in other "
               "ways from those who do not")


# ---------------------------------------------------------------- linking

@dataclass
class Linked:
    """Every coding of a study with its respondent, its touchpoint and, if unlinked, why.

    ``codings`` keeps every input coding (same order) with ``respondent_id`` and
    ``touchpoint`` as resolved, ``touchpoint_from`` ("coding" or "code_touchpoints")
    and ``reason``: missing when linked, else the first failing reason of
    :data:`REASONS` (each coding is counted once, under its first reason).
    """

    codings: pd.DataFrame
    study: Any
    notes: list[str] = field(default_factory=list)
    checked: dict[str, bool] = field(default_factory=dict)

    @property
    def linked(self) -> pd.DataFrame:
        """Codings with a known respondent and a known touchpoint."""
        return self.codings[self.codings["reason"].isna()].reset_index(drop=True)

    @property
    def unlinked(self) -> pd.DataFrame:
        """Codings that could not be linked, with their ``reason``."""
        return self.codings[self.codings["reason"].notna()].reset_index(drop=True)

    @property
    def with_respondent(self) -> pd.DataFrame:
        """Codings with a known respondent (touchpoint found or not)."""
        bad = self.codings["reason"].isin([NO_RESPONDENT, UNKNOWN_RESPONDENT])
        return self.codings[~bad].reset_index(drop=True)

    def report(self) -> pd.DataFrame:
        """Codings per outcome: linked, each reason (zero included) and the total.

        ``codings`` counts each coding once (first reason); ``with_problem`` counts
        every coding with that problem whatever else is wrong with it.
        """
        total = len(self.codings)
        rows = [{"status": "linked", "reason": "", "codings": len(self.linked),
                 "with_problem": np.nan}]
        for reason in REASONS:
            rows.append({"status": "unlinked", "reason": reason,
                         "codings": int((self.codings["reason"] == reason).sum()),
                         "with_problem": int(self.codings[_flag(reason)].sum())})
        rows.append({"status": "total", "reason": "", "codings": total, "with_problem": np.nan})
        out = pd.DataFrame(rows)
        out["share"] = out["codings"] / total if total else np.nan
        out["with_problem"] = out["with_problem"].astype("Int64")
        return out

    def __str__(self) -> str:
        rep = self.report()
        lines = [f"Codings: {len(self.codings):,}; linked {len(self.linked):,}"]
        lines += [f"  not linked, {r.reason}: {r.codings:,}" for r in rep.itertuples()
                  if r.status == "unlinked" and r.codings]
        return "\n".join(lines + [f"Note: {n}" for n in self.notes])


def _flag(reason: str) -> str:
    return "_" + reason.replace(" ", "_")


def _code_paths(codes: pd.DataFrame) -> dict[str, list[str]]:
    """code -> [the code, its parent, ..., its root], guarded against cycles."""
    if codes.empty:
        return {}
    parent = dict(zip(codes["code"].astype(str), codes["parent"], strict=True))
    out = {}
    for code in parent:
        chain, node = [], code
        while isinstance(node, str) and node and node not in chain:
            chain.append(node)
            node = parent.get(node)
        out[code] = chain
    return out


def _code_keys(codes: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """code -> the names a mapping may use for it, in order of precedence: its label,
    its full path, its bare name."""
    keys: dict[str, tuple[str, ...]] = {}
    if codes.empty:
        return keys
    paths = codes["path"] if "path" in codes else codes["code"]
    for code, path in zip(codes["code"].astype(str), paths, strict=True):
        path = str(path) if isinstance(path, str) else code
        keys[code] = (code, path, path.rsplit("/", 1)[-1])
    return keys


def code_touchpoint_map(codes: pd.DataFrame, mapping: dict[str, str] | None,
                        codes_used: list[str] | None = None
                        ) -> tuple[dict[str, str], list[str]]:
    """code -> touchpoint: the mapping on the code, else on its nearest mapped ancestor.

    Mapping keys may be a code's label, full path ("Parent/Child") or bare name.
    Returns the map and the mapping keys that match no code (to report).
    """
    if not mapping:
        return {}, []
    mapping = {str(k): str(v) for k, v in mapping.items()}
    keys = _code_keys(codes)
    chains = _code_paths(codes)
    for code in codes_used or []:
        chains.setdefault(code, [code])
        keys.setdefault(code, (code, code.rsplit("/", 1)[-1]))
    known = set().union(*keys.values()) if keys else set()
    unknown = sorted(set(mapping) - known)
    out = {}
    for code, chain in chains.items():
        for node in chain:
            hit = next((mapping[k] for k in keys.get(node, (node,)) if k in mapping), None)
            if hit is not None:
                out[code] = hit
                break
    return out, unknown


def link_codings(study: Any, code_touchpoints: dict[str, str] | None = None,
                 source_respondents: dict[str, str] | None = None) -> Linked:
    """Join the study's codings to respondents and touchpoints; report what fails.

    Respondent: the coding's ``respondent_id`` (set by the loaders from cases or
    variables), else ``source_respondents`` (source -> respondent; default: the
    study.yml key of that name). Touchpoint: the coding's own ``touchpoint``, else
    ``code_touchpoints`` (default: the study.yml key) applied through the code
    hierarchy. Codings whose respondent is missing or not in the respondents table,
    or whose touchpoint is missing or not in the journey map, are kept in
    ``Linked.codings`` with a ``reason`` and counted in ``Linked.report()``. A study
    without a respondents table (or journey map) has its respondents (touchpoints)
    left unchecked, with a note.
    """
    config = getattr(study, "config", {}) or {}
    code_touchpoints = (config.get("code_touchpoints") if code_touchpoints is None
                        else code_touchpoints)
    source_respondents = (config.get("source_respondents") if source_respondents is None
                          else source_respondents)
    codings = study.codings.reset_index(drop=True).copy()
    notes: list[str] = []
    n = len(codings)
    for col in ("respondent_id", "touchpoint", "source"):
        if col not in codings:
            codings[col] = pd.Series([None] * n, dtype="str")
    rid = codings["respondent_id"].astype("str").str.strip()
    rid = rid.where(rid.notna() & (rid != ""))
    if source_respondents:
        mapped = codings["source"].astype("str").map(
            {str(k): str(v) for k, v in source_respondents.items()})
        use = rid.isna() & mapped.notna()
        rid = rid.where(~use, mapped)
        if use.any():
            notes.append(f"{int(use.sum())} codings linked to a respondent through "
                         "source_respondents")
    codings["respondent_id"] = rid.astype("str")

    tp = codings["touchpoint"].astype("str").str.strip()
    tp = tp.where(tp.notna() & (tp != ""))
    source = pd.Series(np.where(tp.notna(), "coding", None), index=codings.index, dtype="str")
    cmap, unknown = code_touchpoint_map(study.codes, code_touchpoints,
                                        codings["code"].astype(str).unique().tolist())
    if unknown:
        notes.append(f"code_touchpoints names codes not in the codebook: {', '.join(unknown)}")
    if cmap:
        mapped = codings["code"].astype(str).map(cmap)
        use = tp.isna() & mapped.notna()
        tp = tp.where(~use, mapped)
        source = source.where(~use, "code_touchpoints")
        notes.append(f"{int(use.sum())} codings took their touchpoint from code_touchpoints "
                     "(their code or its nearest mapped ancestor)")
    codings["touchpoint"] = tp.astype("str")
    codings["touchpoint_from"] = source

    people = study.respondents
    journey = study.touchpoints
    checked = {"respondents": len(people) > 0, "touchpoints": len(journey) > 0}
    codings[_flag(NO_RESPONDENT)] = rid.isna().to_numpy()
    if checked["respondents"]:
        known = set(people["respondent_id"].astype(str))
        codings[_flag(UNKNOWN_RESPONDENT)] = (rid.notna() & ~rid.isin(known)).to_numpy()
    else:
        codings[_flag(UNKNOWN_RESPONDENT)] = False
        notes.append("no respondents table: respondent ids of codings not checked")
    codings[_flag(NO_TOUCHPOINT)] = tp.isna().to_numpy()
    if checked["touchpoints"]:
        known = set(journey["touchpoint"].astype(str))
        codings[_flag(UNKNOWN_TOUCHPOINT)] = (tp.notna() & ~tp.isin(known)).to_numpy()
    else:
        codings[_flag(UNKNOWN_TOUCHPOINT)] = False
        notes.append("no journey map (touchpoints table): touchpoint names of codings not "
                     "checked")
    reason = pd.Series(None, index=codings.index, dtype="str")
    for r in reversed(REASONS):  # the first reason in REASONS wins
        reason = reason.mask(codings[_flag(r)], r)
    codings["reason"] = reason
    return Linked(codings, study, notes, checked)


def _as_linked(data: Any) -> Linked:
    return data if isinstance(data, Linked) else link_codings(data)


def default_item(ratings: pd.DataFrame) -> str | None:
    """``valence`` when rated, else the most frequent item (None without ratings)."""
    if ratings.empty:
        return None
    items = ratings["item"].astype(str) if "item" in ratings else pd.Series(["valence"])
    return "valence" if (items == "valence").any() else str(items.value_counts().index[0])


def _ratings(study: Any, item: str | None) -> tuple[pd.DataFrame, str | None]:
    ratings = study.ratings
    item = item or default_item(ratings)
    if "item" in ratings and item is not None:
        ratings = ratings[ratings["item"].astype(str) == item]
    out = pd.DataFrame({"respondent_id": ratings["respondent_id"].astype(str),
                        "touchpoint": ratings["touchpoint"].astype(str),
                        "rating": pd.to_numeric(ratings["value"], errors="coerce")
                        .astype(float)})
    return out.dropna(subset=["rating"]), item


# ---------------------------------------------------------------- code statistics

def code_mentions(data: Any, by: str | None = None, item: str | None = None) -> pd.DataFrame:
    """Respondents mentioning each code at each touchpoint (and ``by`` group).

    ``data`` is a study or a :class:`Linked`; ``by`` a respondents column such as
    ``segment``. Columns: ``respondents`` (distinct respondents with the code there),
    ``codings`` (excerpts), ``at_touchpoint`` (respondents who rated the touchpoint —
    ``item`` only, default valence — or have a linked coding there) and ``share`` =
    respondents / at_touchpoint. Linked codings only.
    """
    linked = _as_linked(data)
    codings = linked.linked
    keys = ["code", "touchpoint"] + ([by] if by else [])
    ratings, _ = _ratings(linked.study, item)
    present = pd.concat([ratings[["respondent_id", "touchpoint"]],
                         codings[["respondent_id", "touchpoint"]]]).drop_duplicates()
    if by:
        people = linked.study.respondents
        if by not in people:
            raise ValueError(f"by={by!r} is not a respondents column")
        group = dict(zip(people["respondent_id"].astype(str), people[by].astype(str),
                         strict=True))
        codings = codings.assign(**{by: codings["respondent_id"].map(group)})
        present = present.assign(**{by: present["respondent_id"].map(group)})
    if codings.empty:
        return pd.DataFrame(columns=[*keys, "respondents", "codings", "at_touchpoint", "share"])
    out = (codings.groupby(keys, dropna=False)
           .agg(respondents=("respondent_id", "nunique"), codings=("code", "size"))
           .reset_index())
    base = present.groupby(["touchpoint"] + ([by] if by else []), dropna=False).size()
    base = base.rename("at_touchpoint").reset_index()
    out = out.merge(base, on=["touchpoint"] + ([by] if by else []), how="left")
    out["share"] = out["respondents"] / out["at_touchpoint"]
    return out.sort_values(["respondents", *keys], ascending=[False] + [True] * len(keys),
                           kind="stable").reset_index(drop=True)


def cooccurrence(data: Any, min_respondents: int = 1) -> pd.DataFrame:
    """Pairs of codes mentioned by the same respondents (at any touchpoint).

    One row per pair (``code_a`` before ``code_b``): ``n_a``, ``n_b`` respondents
    mentioning each, ``n_both`` both, ``jaccard`` = n_both / (n_a + n_b - n_both),
    ``lift`` = n_both * N / (n_a * n_b) with N the respondents of the study (those
    with codings when there is no respondents table; ``attrs["N"]``). Codes mentioned
    by fewer than ``min_respondents`` are left out. Codings with a known respondent
    are used, whether or not their touchpoint was found.
    """
    linked = _as_linked(data)
    codings = linked.with_respondent
    cols = ["code_a", "code_b", "n_a", "n_b", "n_both", "jaccard", "lift"]
    if codings.empty:
        return pd.DataFrame(columns=cols)
    people = linked.study.respondents
    n_people = (len(people) if len(people) else codings["respondent_id"].nunique())
    x = pd.crosstab(codings["respondent_id"], codings["code"]).clip(upper=1)
    x = x.loc[:, x.sum() >= min_respondents]
    m = x.T.to_numpy(dtype=float) @ x.to_numpy(dtype=float)
    names = x.columns.astype(str).tolist()
    a, b = np.triu_indices(len(names), k=1)
    n_a, n_b, both = np.diag(m)[a], np.diag(m)[b], m[a, b]
    out = pd.DataFrame({"code_a": np.array(names, dtype=object)[a],
                        "code_b": np.array(names, dtype=object)[b],
                        "n_a": n_a.astype(int), "n_b": n_b.astype(int), "n_both": both.astype(int),
                        "jaccard": both / (n_a + n_b - both),
                        "lift": both * n_people / (n_a * n_b)})
    out = out.sort_values(["n_both", "jaccard"], ascending=False, kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["N"] = n_people
    return out


def emotion_gap(data: Any, item: str | None = None, prob: float = 0.9) -> pd.DataFrame:
    """Mean rating at a touchpoint of those who mention a code there against the others.

    Per code x touchpoint, among the respondents who rated the touchpoint (``item``,
    default valence): ``n_mentioners``/``mean_mentioners`` (they mention the code
    there), ``n_others``/``mean_others`` (they do not), ``difference`` and its Welch
    t interval (``welch90_low``/``welch90_high`` for prob 0.9), and ``unrated``
    (mentioners without a rating there, not used). Descriptive, not causal.
    """
    linked = _as_linked(data)
    lo, hi = f"welch{100 * prob:g}_low", f"welch{100 * prob:g}_high"
    ratings, item = _ratings(linked.study, item)
    codings = linked.linked[["respondent_id", "touchpoint", "code"]].drop_duplicates()
    rows = []
    for (code, tp), group in codings.groupby(["code", "touchpoint"], sort=True):
        rated = ratings[ratings["touchpoint"] == tp]
        mention = rated["respondent_id"].isin(set(group["respondent_id"]))
        a, b = rated.loc[mention, "rating"].to_numpy(), rated.loc[~mention, "rating"].to_numpy()
        row = {"code": code, "touchpoint": tp, "n_mentioners": len(a), "n_others": len(b),
               "mean_mentioners": a.mean() if len(a) else np.nan,
               "mean_others": b.mean() if len(b) else np.nan,
               "difference": np.nan, lo: np.nan, hi: np.nan,
               "unrated": int((~group["respondent_id"].isin(set(rated["respondent_id"]))).sum())}
        row["difference"] = row["mean_mentioners"] - row["mean_others"]
        if len(a) >= 2 and len(b) >= 2 and (a.var() > 0 or b.var() > 0):
            ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(prob)
            row[lo], row[hi] = float(ci.low), float(ci.high)
        rows.append(row)
    cols = ["code", "touchpoint", "n_mentioners", "mean_mentioners", "n_others", "mean_others",
            "difference", lo, hi, "unrated"]
    out = pd.DataFrame(rows, columns=cols)
    out.attrs["interval"] = f"{prob:.0%} Welch t interval of the difference; {DESCRIPTIVE}"
    out.attrs["item"] = item
    return out


# ---------------------------------------------------------------- joint display

def _rng(seed: int, *key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32("\x1f".join(key).encode())])


def _pick_quotes(group: pd.DataFrame, sign: float, k: int, rng: np.random.Generator
                 ) -> list[str]:
    """k quotes, distinct texts and respondents where possible, agreeing ones first."""
    group = group[group["text"].notna() & (group["text"].astype(str).str.strip() != "")]
    if group.empty or k <= 0:
        return []
    order = rng.permutation(len(group))
    g = group.iloc[order]
    agree = (np.sign(g["rating"] - g["tp_mean"]) == sign) if sign else pd.Series(False, g.index)
    g = g.assign(_agree=agree.fillna(False).astype(bool))
    g = g.sort_values("_agree", ascending=False, kind="stable")
    picked, texts, people = [], set(), set()
    for strict in (True, False):
        for row in g.itertuples():
            if len(picked) == k:
                return picked
            text = str(row.text).strip()
            if text in texts or (strict and row.respondent_id in people):
                continue
            picked.append(text)
            texts.add(text)
            people.add(row.respondent_id)
    return picked


def joint_display(study: Any, causes_result: Any = None, quotes: int = 2, seed: int = 0,
                  redact: bool = True, item: str | None = None,
                  linked: Linked | None = None) -> pd.DataFrame:
    """The joint display: one row per code x touchpoint with numbers and words side by side.

    Columns: ``respondents`` mentioning the code there and their ``share``; the mean
    rating of mentioners and of the other raters with the difference (descriptive,
    Welch interval); the modelled ``effect`` (logits) with its equal-tailed interval
    and ``prob_positive`` from ``causes_result`` (a :class:`CausesResult`; empty for
    pairs the model left out); and ``quote_1``.. ``quote_{quotes}``: exemplar excerpts
    drawn reproducibly (``seed`` and the code x touchpoint fix the draw), preferring
    respondents whose rating at the touchpoint lies on the side of the touchpoint's
    mean that the effect's sign (else the difference's sign) points to, with
    distinct texts and respondents. Quotes are redacted (e-mails, phone numbers)
    unless ``redact=False``; they are not HTML-escaped here: show the frame with
    pandas (which escapes) or :func:`to_html`.
    """
    linked = linked if linked is not None else link_codings(study)
    if item is None and causes_result is not None:
        item = causes_result.data.get("item")
    mentions = code_mentions(linked, item=item)
    gap = emotion_gap(linked, item=item)
    out = mentions.merge(gap.drop(columns=["unrated"]), on=["code", "touchpoint"], how="left")
    prob = 0.9
    if causes_result is not None:
        prob = float(causes_result.config.get("prob", 0.9))
        eff = causes_result.effects()
        lo, hi = interval_names(prob)
        eff = eff[["code", "touchpoint", "mean", lo, hi, "prob_positive"]].rename(
            columns={"mean": "effect", lo: f"effect_{lo}", hi: f"effect_{hi}"})
        out = out.merge(eff, on=["code", "touchpoint"], how="left")
    ratings, item = _ratings(linked.study, item)
    ratings["tp_mean"] = ratings.groupby("touchpoint")["rating"].transform("mean")
    excerpts = linked.linked.merge(ratings, on=["respondent_id", "touchpoint"], how="left")
    groups = dict(list(excerpts.groupby(["code", "touchpoint"], sort=False)))
    picks = []
    for row in out.itertuples():
        sign = getattr(row, "effect", np.nan)
        sign = row.difference if pd.isna(sign) else sign
        sign = 0.0 if pd.isna(sign) else float(np.sign(sign))
        group = groups.get((row.code, row.touchpoint), excerpts.iloc[:0])
        chosen = _pick_quotes(group, sign, quotes, _rng(seed, row.code, row.touchpoint))
        if redact:
            chosen = [redact_text(q) for q in chosen]
        picks.append(chosen + [None] * (quotes - len(chosen)))
    for i in range(quotes):
        out[f"quote_{i + 1}"] = pd.Series([p[i] for p in picks], index=out.index, dtype="str")
    if "effect" in out:
        key = out["effect"].abs().fillna(-1.0)
        out = out.assign(_k=key).sort_values(["_k", "respondents"], ascending=False,
                                             kind="stable").drop(columns="_k")
    out = out.reset_index(drop=True)
    out.attrs["item"] = item
    out.attrs["interval"] = (f"effect: {prob:.0%} equal-tailed posterior interval (logits); "
                             f"difference: {gap.attrs['interval']}")
    return out


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        return f"{value:.2f}"
    return html.escape(str(value))


def to_html(frame: pd.DataFrame, caption: str | None = None,
            quote_columns: list[str] | None = None) -> str:
    """An HTML table of a joint display (or any frame) with every cell HTML-escaped.

    Quote columns (``quote_*`` by default) are shown as quotations. Text is escaped,
    not redacted: redact when building the frame (:func:`joint_display` does).
    """
    quote_columns = (quote_columns if quote_columns is not None
                     else [c for c in frame.columns if str(c).startswith("quote_")])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            text = _cell(value)
            if col in quote_columns and text:
                text = f"<q>{text}</q>"
            cells.append(f"<td>{text}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="cx-joint-display">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>")
