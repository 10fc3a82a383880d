"""Qualitative coding: REFI-QDA projects and codebooks, and CSV code exports.

:func:`load_refi_qda` reads the REFI-QDA exchange format written by ATLAS.ti, NVivo,
MAXQDA, QualCoder and qc: a ``.qdpx`` zip (``project.qde`` plus a ``sources/`` or
``Sources/`` folder), a bare ``project.qde`` and a ``.qdc`` codebook. The format is
told from the content (zip or XML), never from the name, so a MAXQDA ``.zip`` loads.
XML is parsed with defusedxml (no DTD entities, no external references) and every
archive member is read with a size and compression-ratio limit.

:func:`load_codes_csv` reads CSV code exports: Taguette highlights and codebooks and
QualCoder-style coding tables.

Both return the tidy ``codes`` and ``codings`` tables (see :mod:`cxresearch.schema`).
"""

from __future__ import annotations

import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from cxresearch.errors import InputError, Problem, fail
from cxresearch.io.files import check_file, read_csv_raw
from cxresearch.schema import Rules, ValidationReport, conform

MAX_RATIO = 200  # deflate bombs inflate ~1000:1; real projects stay under 20:1
RATIO_FLOOR = 1 << 20  # the ratio check applies to members above 1 MiB
MEDIA = {"PDFSource": "PDF", "PictureSource": "picture", "AudioSource": "audio",
         "VideoSource": "video"}
MEDIA_SELECTIONS = {"PDFSelection": "PDF", "PictureSelection": "picture",
                    "AudioSelection": "audio", "VideoSelection": "video",
                    "TranscriptSelection": "transcript"}
CODING_COLUMNS = ["respondent_id", "source", "touchpoint", "code", "text", "start", "end",
                  "selection_guid", "coding_guid", "coder", "case"]
CODE_COLUMNS = ["code", "parent", "description", "guid", "color", "path", "is_codable",
                "is_case"]


# --------------------------------------------------------------------------- container


class _Project:
    """``project.qde`` and its source texts, from a zip archive or a bare XML file."""

    def __init__(self, path: Path, max_bytes: int):
        self.path, self.max_bytes, self.zip = path, max_bytes, None
        with path.open("rb") as fh:
            head = fh.read(512)
        if head.startswith(b"PK"):
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise fail(path, f"corrupt zip archive: {exc}") from None
            self.members = {n.lower(): n for n in self.zip.namelist() if not n.endswith("/")}
            qde = self.members.get("project.qde")
            if qde is None:
                found = [n for k, n in self.members.items() if k.endswith(".qde")]
                if len(found) != 1:
                    listed = ", ".join(list(self.members.values())[:10]) or "none"
                    raise fail(path, f"no project.qde in the archive (members: {listed})")
                qde = found[0]
            self.xml = self._member(qde)
        elif _looks_like_xml(head):
            if path.stat().st_size > max_bytes:
                raise fail(path, f"file is {path.stat().st_size:,} bytes, over the limit "
                           f"of {max_bytes:,} (max_bytes)")
            self.xml = path.read_bytes()
        else:
            raise fail(path, "not a REFI-QDA project (neither a zip archive nor XML)")

    def _member(self, name: str) -> bytes:
        info = self.zip.getinfo(name)
        too_big = (f"archive member '{name}' inflates beyond the limit of "
                   f"{self.max_bytes:,} bytes (max_bytes)")
        if info.file_size > self.max_bytes:
            raise fail(self.path, f"{too_big}: {info.file_size:,} bytes declared")
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > RATIO_FLOOR and ratio > MAX_RATIO:
            raise fail(self.path, f"archive member '{name}' has an absurd compression ratio "
                       f"({ratio:,.0f}:1): refused as a possible zip bomb")
        try:
            with self.zip.open(info) as fh:
                data = fh.read(self.max_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
            raise fail(self.path, f"corrupt zip archive: cannot read '{name}': {exc}") from None
        if len(data) > self.max_bytes:
            raise fail(self.path, too_big)
        return data

    def text(self, ref: str) -> str | None:
        """The text behind a ``plainTextPath``, or None when the project does not hold it.

        ``internal://x.txt`` and a bare ``x.txt`` (as qc writes it) are looked up in
        ``sources/`` or ``Sources/`` (any case); ``relative://`` and absolute paths point
        outside the project and are not read.
        """
        name = ref.removeprefix("internal://")
        if "://" in name or name.startswith(("/", "\\")) or ":" in name[:3]:
            return None
        name = PurePosixPath(name.replace("\\", "/"))
        if ".." in name.parts:
            return None
        if self.zip is not None:
            for candidate in (f"sources/{name}", str(name)):
                member = self.members.get(candidate.lower())
                if member is not None:
                    return self._decode(self._member(member), member)
            return None
        for folder in ("sources", "Sources"):  # an unzipped project beside its sources
            file = self.path.parent / folder / name
            if file.is_file():
                if file.stat().st_size > self.max_bytes:
                    raise fail(file, f"source text over the limit of {self.max_bytes:,} bytes")
                return self._decode(file.read_bytes(), str(file))
        return None

    def _decode(self, data: bytes, member: str) -> str:
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise fail(self.path, f"source text '{member}' is not UTF-8 "
                       f"(byte {exc.start}: {exc.reason})") from None


def _looks_like_xml(head: bytes) -> bool:
    for bom, enc in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(enc, errors="ignore").lstrip().startswith("<")
    return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _parse_xml(data: bytes, path: Path):
    """Parse safely (no entities, no external references); drop namespaces from tags."""
    try:
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise fail(path, f"unsafe XML refused ({type(exc).__name__}: {exc}): entity "
                   "declarations and external references are not allowed") from None
    except ParseError as exc:
        raise fail(path, f"not well-formed XML: {exc}") from None
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.rsplit("}", 1)[1]
    return root


# --------------------------------------------------------------------------- codebook


@dataclass
class _Code:
    guid: str
    name: str
    parent: str | None  # parent guid
    path: str
    label: str = ""  # the unique ``code`` value


def _codebook(root) -> tuple[pd.DataFrame, dict[str, _Code]]:
    """The code tree, depth first, with unique labels (full path where names repeat)."""
    book = root if root.tag == "CodeBook" else root.find("CodeBook")
    top = book.find("Codes") if book is not None else None
    rows, codes, stack = [], {}, [(el, None, ()) for el in reversed(_children(top, "Code"))]
    while stack:
        el, parent, trail = stack.pop()
        guid, name = el.get("guid") or f"code {len(rows) + 1}", el.get("name") or ""
        desc = el.find("Description")
        codes[guid] = _Code(guid, name, parent, "/".join((*trail, name)))
        rows.append({"guid": guid, "color": el.get("color"),
                     "description": desc.text if desc is not None else None,
                     "is_codable": el.get("isCodable", "true").lower() == "true"})
        stack += [(c, guid, (*trail, name)) for c in reversed(_children(el, "Code"))]
    names = Counter(c.name for c in codes.values())
    labels = Counter(c.path if names[c.name] > 1 else c.name for c in codes.values())
    for c in codes.values():
        c.label = c.path if names[c.name] > 1 else c.name
        if labels[c.label] > 1:
            c.label = f"{c.label} [{c.guid}]"
    for row in rows:
        code = codes[row["guid"]]
        row |= {"code": code.label, "path": code.path,
                "parent": codes[code.parent].label if code.parent else None}
    frame = pd.DataFrame(rows, columns=[c for c in CODE_COLUMNS if c != "is_case"])
    frame.index = pd.Index([r["guid"] for r in rows], name="row", dtype="object")
    return frame, codes


def _children(el, tag: str) -> list:
    return [] if el is None else el.findall(tag)


# --------------------------------------------------------------------------- sources


@dataclass
class _Source:
    guid: str
    name: str
    variables: dict[str, str]


@dataclass
class _Selection:
    source: _Source
    guid: str
    kind: str  # "text", "whole" (source-level coding) or a media kind
    start: str | None = None
    end: str | None = None
    text_ref: str | None = None  # plainTextPath
    inline: str | None = None  # PlainTextContent
    user: str | None = None
    codings: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)


@dataclass
class _Case:
    guid: str
    name: str
    variables: dict[str, str]
    order: int
    sources: set[str] = field(default_factory=set)
    selections: set[str] = field(default_factory=set)


def _variables(el, names: dict[str, str]) -> dict[str, str]:
    out = {}
    for vv in el.findall("VariableValue"):
        ref = vv.find("VariableRef")
        values = [c for c in vv if c.tag != "VariableRef"]
        if ref is not None and values:
            out[names.get(ref.get("targetGUID"), ref.get("targetGUID"))] = values[0].text
    return out


def _codings(el) -> list[tuple[str | None, str | None, str | None]]:
    out = []
    for c in el.findall("Coding"):
        ref = c.find("CodeRef")
        out.append((c.get("guid"), ref.get("targetGUID") if ref is not None else None,
                    c.get("creatingUser")))
    return out


def _selections(root, var_names: dict[str, str]) -> list[_Selection]:
    """Every selection (and source-level coding) of every source, in document order."""
    sels: list[_Selection] = []
    for el in _children(root.find("Sources"), "*"):
        src = _Source(el.get("guid") or "", el.get("name") or _source_name(el),
                      _variables(el, var_names))
        texts = [el] if el.tag == "TextSource" else el.findall("Representation")
        for holder in texts:
            content = holder.find("PlainTextContent")
            for s in holder.findall("PlainTextSelection"):
                sels.append(_Selection(src, s.get("guid") or "", "text", s.get("startPosition"),
                                       s.get("endPosition"), holder.get("plainTextPath"),
                                       content.text if content is not None else None,
                                       s.get("creatingUser"), _codings(s)))
        for s in el.iter():
            if s.tag in MEDIA_SELECTIONS:
                sels.append(_Selection(src, s.get("guid") or "", MEDIA_SELECTIONS[s.tag],
                                       user=s.get("creatingUser"), codings=_codings(s)))
        if el.findall("Coding"):
            sels.append(_Selection(src, src.guid, "whole", codings=_codings(el)))
    return sels


def _source_name(el) -> str:
    ref = el.get("plainTextPath") or el.get("path") or el.get("guid") or ""
    return PurePosixPath(ref.removeprefix("internal://")).name


# --------------------------------------------------------------------------- REFI-QDA


class _Issues:
    """Bad selections and codings: raised together, or excluded and counted."""

    def __init__(self, file: str):
        self.file, self.items = file, []

    def add(self, reason: str, detail: str, row: str, column: str, rows: int) -> None:
        self.items.append((Problem(self.file, f"{reason} ({detail})", row, column), reason, rows))

    def settle(self, on_error: str, report: ValidationReport) -> None:
        if not self.items:
            return
        if on_error == "raise":
            raise InputError([p for p, _, _ in self.items])
        by_reason: Counter = Counter()
        for p, reason, rows in self.items:
            report.problems.append(Problem(p.file, p.message, p.row, p.column, "excluded"))
            by_reason[reason] += rows
        for reason, rows in by_reason.items():
            report.exclude("codings", self.file, reason, rows)


def load_refi_qda(path: str | Path, *, rules: Rules | None = None, on_error: str = "raise",
                  report: ValidationReport | None = None,
                  respondent_variable: str | None = None,
                  touchpoint_variable: str | None = None,
                  code_touchpoints: dict[str, str] | None = None,
                  positions: str = "auto",
                  max_bytes: int = 200_000_000) -> dict[str, pd.DataFrame]:
    """Read a REFI-QDA project (``.qdpx``, ``.qde``) or codebook (``.qdc``).

    Returns ``codes`` (code, parent, description; plus guid, color, path, is_codable,
    is_case) and, for a project, ``codings`` (respondent_id, source, touchpoint, code,
    text, start, end; plus selection_guid, coding_guid, coder, case), one row per
    ``<Coding>`` (a selection coded with three codes gives three rows).

    Codes: ``code`` is the code's name; where a name repeats in several branches,
    every code of that name is labelled by its full path ``"Parent/Child"`` instead,
    so that ``code`` stays unique. ``parent`` is the parent's ``code`` label and
    ``path`` always holds the full path.

    Respondents: a coding belongs to a case named by a ``SelectionRef``, else to the
    case whose case-node coding (NVivo exports each case as a code with the case's
    guid) covers the selection's start, else to the case holding a ``SourceRef`` to
    its source; when several fit, the case covering the fewest sources wins (the
    person rather than a grouping such as a year). The respondent id is the case name,
    or the value of ``respondent_variable`` (on the case, else on the source).
    Codings at case nodes only make that link and are not codings themselves.
    Unlinked codings keep respondent_id empty and are counted in ``report.notes``.

    Touchpoints: ``code_touchpoints`` maps a code (name, label or path) to a touchpoint
    and codes below it inherit it; codings it does not reach take the value of
    ``touchpoint_variable`` (case, else source). ``rules`` checks touchpoint names.

    Positions: NVivo counts UTF-16 code units and the others characters; ``positions=
    "auto"`` decides by the project's ``origin`` ("utf16" and "characters" force it).
    Line breaks count as written in the source text (NVivo for Windows: CRLF = 2);
    excerpts are returned with ``\\n`` line breaks, start/end as in the project.
    Selections on PDF, picture, audio and video sources and transcript selections have
    no text positions: they are not turned into excerpts and are counted in
    ``report.notes``; so are codings whose source text is not in the project (kept,
    with empty text). Positions beyond the text and codes missing from the codebook
    raise an InputError naming the selection or coding guid, or with
    ``on_error="exclude"`` are excluded and counted.
    """
    path = check_file(path)
    file = str(path)
    report = ValidationReport.of(report)
    if positions not in ("auto", "utf16", "characters"):
        raise ValueError("positions must be 'auto', 'utf16' or 'characters'")
    project = _Project(path, max_bytes)
    root = _parse_xml(project.xml, path)
    if root.tag not in ("Project", "CodeBook"):
        raise fail(path, f"not a REFI-QDA project: the XML root is <{root.tag}>, "
                   "expected <Project> or <CodeBook>")
    codes_raw, codes = _codebook(root)
    if root.tag == "CodeBook":
        codes_raw["is_case"] = False
        return {"codes": conform("codes", codes_raw, file, rules=rules, on_error=on_error,
                                 report=report)}

    var_names = {v.get("guid"): v.get("name") for v in root.iter("Variable")}
    _check_variables(path, var_names, respondent_variable=respondent_variable,
                     touchpoint_variable=touchpoint_variable)
    cases = _cases(root, var_names)
    case_nodes = {c.guid: c for c in cases if c.guid in codes}
    codes_raw["is_case"] = codes_raw["guid"].isin(list(case_nodes))
    origin = root.get("origin") or ""
    utf16 = positions == "utf16" or (positions == "auto" and "nvivo" in origin.lower())
    users = {u.get("guid"): u.get("name") for u in root.iter("User")}
    sels = _selections(root, var_names)
    linker = _Linker(cases, case_nodes, sels)
    touch = _code_touchpoints(codes, code_touchpoints, file, report)

    issues, notes = _Issues(file), Counter()
    texts: dict[tuple, tuple | None] = {}
    rows, labels = [], []
    media_done = {s.guid for s in sels if s.kind == "text"}
    for sel in sels:
        codings = [c for c in sel.codings if c[1] not in case_nodes]
        notes["case node codings"] += len(sel.codings) - len(codings)
        if sel.kind not in ("text", "whole"):
            key = "media-represented" if sel.guid in media_done else sel.kind
            notes[(key, "selections")] += 1
            notes[(key, "codings")] += len(codings)
            continue
        if not sel.codings:
            notes["uncoded selections"] += 1
            continue
        if not codings:
            continue
        excerpt, start, end = None, None, None
        if sel.kind == "text":
            span = _span(sel, len(codings), issues)
            if span is None:
                continue
            start, end = span
            key = (sel.text_ref, sel.inline)
            if key not in texts:
                texts[key] = _load_text(project, sel, utf16)
            if texts[key] is None:
                notes["absent text codings"] += len(codings)
                notes[("absent text source", sel.source.guid)] = 1
            else:
                excerpt = _excerpt(texts[key], start, end, sel, len(codings), issues)
                if excerpt is False:
                    continue
        else:
            notes["whole source codings"] += len(codings)
        case = linker.case(sel, start)
        respondent = _lookup(case, sel.source, respondent_variable)
        if respondent_variable is None and case is not None:
            respondent = case.name
        tp_var = _lookup(case, sel.source, touchpoint_variable)
        for coding_guid, code_guid, user in codings:
            label = coding_guid or sel.guid
            if code_guid not in codes:
                column = "targetGUID" if code_guid is not None else "CodeRef"
                issues.add("coding refers to a code not in the codebook",
                           f"code guid {code_guid}", label, column, 1)
                continue
            rows.append([respondent, sel.source.name, touch.get(code_guid) or tp_var,
                         codes[code_guid].label, excerpt, start, end, sel.guid, coding_guid,
                         users.get(user or sel.user, user or sel.user),
                         case.name if case else None])
            labels.append(label)
            notes["unlinked"] += respondent is None or respondent == ""
    issues.settle(on_error, report)
    report.notes += _notes(file, notes, linker)
    raw = pd.DataFrame(rows, columns=CODING_COLUMNS)
    seen = Counter(labels)
    raw.index = pd.Index([lb if seen[lb] == 1 else f"{lb}#{i}" for i, lb in enumerate(labels)],
                         name="row", dtype="object")
    for col in ("start", "end"):
        raw[col] = raw[col].astype("Int64")
    return {"codes": conform("codes", codes_raw, file, rules=rules, on_error=on_error,
                             report=report),
            "codings": conform("codings", raw, file, rules=rules, on_error=on_error,
                               report=report)}


def _check_variables(path: Path, var_names: dict, **options: str | None) -> None:
    for option, name in options.items():
        if name is not None and name not in var_names.values():
            known = ", ".join(sorted(filter(None, var_names.values()))) or "none"
            raise fail(path, f"{option}: no variable named '{name}' in the project "
                       f"(variables: {known})")


def _cases(root, var_names: dict[str, str]) -> list[_Case]:
    return [_Case(c.get("guid") or "", c.get("name") or "", _variables(c, var_names), i,
                  {r.get("targetGUID") for r in c.findall("SourceRef")},
                  {r.get("targetGUID") for r in c.findall("SelectionRef")})
            for i, c in enumerate(_children(root.find("Cases"), "Case"))]


def _span(sel: _Selection, n: int, issues: _Issues) -> tuple[int, int] | None:
    values = {}
    for column, value in (("startPosition", sel.start), ("endPosition", sel.end)):
        try:
            values[column] = int(value)
        except (TypeError, ValueError):
            issues.add("selection position is not a whole number", f"{column}={value!r}",
                       sel.guid, column, n)
            return None
    start, end = values["startPosition"], values["endPosition"]
    if start < 0 or start > end:
        issues.add("selection positions out of order",
                   f"startPosition {start}, endPosition {end}", sel.guid, "startPosition", n)
        return None
    return start, end


def _load_text(project: _Project, sel: _Selection, utf16: bool) -> tuple | None:
    """(text, UTF-16 bytes or None, length in position units), or None when absent."""
    if sel.inline is not None:
        text = sel.inline
    elif sel.text_ref:
        text = project.text(sel.text_ref)
    else:
        text = None
    if text is None:
        return None
    if utf16:
        units = text.encode("utf-16-le")
        if len(units) != 2 * len(text):  # characters beyond the BMP count as two units
            return text, units, len(units) // 2
    return text, None, len(text)


def _excerpt(loaded: tuple, start: int, end: int, sel: _Selection, n: int,
             issues: _Issues) -> str | bool:
    text, units, length = loaded
    if end > length:
        issues.add("selection beyond the end of its source text",
                   f"endPosition {end} > text length {length} in '{sel.source.name}'",
                   sel.guid, "endPosition", n)
        return False
    if units is not None:
        out = units[2 * start: 2 * end].decode("utf-16-le", errors="replace")
    else:
        out = text[start:end]
    return out.replace("\r\n", "\n")


def _lookup(case: _Case | None, source: _Source, variable: str | None) -> str | None:
    if variable is None:
        return None
    if case is not None and case.variables.get(variable) not in (None, ""):
        return case.variables[variable]
    return source.variables.get(variable)


class _Linker:
    """Finds the case (respondent) a selection belongs to."""

    def __init__(self, cases: list[_Case], case_nodes: dict[str, _Case],
                 sels: list[_Selection]):
        self.by_selection: dict[str, list[_Case]] = {}
        self.by_source: dict[str, list[_Case]] = {}
        self.ranges: dict[str, list[tuple[_Case, int, float]]] = {}
        self.ambiguous = 0
        self.example: tuple[str, str] | None = None
        for case in cases:
            for g in case.selections:
                self.by_selection.setdefault(g, []).append(case)
            for g in case.sources:
                self.by_source.setdefault(g, []).append(case)
        for sel in sels:
            for _, code_guid, _ in sel.codings:
                case = case_nodes.get(code_guid)
                if case is None:
                    continue
                try:
                    lo, hi = ((0, float("inf")) if sel.kind != "text"
                              else (int(sel.start), int(sel.end)))
                except (TypeError, ValueError):
                    continue
                self.ranges.setdefault(sel.source.guid, []).append((case, lo, hi))
                case.sources.add(sel.source.guid)

    def case(self, sel: _Selection, start: int | None) -> _Case | None:
        found = self.by_selection.get(sel.guid)
        if not found:
            pos = start if start is not None else 0
            found = [c for c, lo, hi in self.ranges.get(sel.source.guid, [])
                     if lo <= pos < max(hi, lo + 1)]
        if not found:
            found = self.by_source.get(sel.source.guid, [])
        found = list({c.guid: c for c in found}.values())
        if not found:
            return None
        best = min(found, key=lambda c: (len(c.sources), c.order))
        if len(found) > 1:
            self.ambiguous += 1
            other = max(found, key=lambda c: len(c.sources))
            self.example = self.example or (best.name, other.name)
        return best


def _code_touchpoints(codes: dict[str, _Code], mapping: dict[str, str] | None, file: str,
                      report: ValidationReport) -> dict[str, str]:
    """Code guid -> touchpoint, from the mapping on the code or its nearest ancestor."""
    if not mapping:
        return {}
    keys = {k for c in codes.values() for k in (c.name, c.label, c.path)}
    unknown = sorted(set(mapping) - keys)
    if unknown:
        report.problems.append(Problem(file, "code_touchpoints names codes not in the "
                                       f"codebook: {', '.join(unknown)}", None,
                                       "code_touchpoints", "warning"))
    out = {}
    for guid, code in codes.items():
        node = code
        while node is not None:
            hit = next((mapping[k] for k in (node.label, node.path, node.name) if k in mapping),
                       None)
            if hit is not None:
                out[guid] = hit
                break
            node = codes.get(node.parent) if node.parent else None
    return out


def _notes(file: str, n: Counter, linker: _Linker) -> list[str]:
    out = []
    kinds = sorted({k[0] for k in n if isinstance(k, tuple) and k[1] in ("selections",)})
    for kind in kinds:
        sel, cod = n[(kind, "selections")], n[(kind, "codings")]
        if kind == "media-represented":
            out.append(f"{cod} codings on {sel} PDF selections not imported from the PDF "
                       "regions: the same selections are coded in the PDF's text "
                       "representation and imported from there")
        else:
            out.append(f"{cod} codings on {sel} {kind} selections not imported as excerpts "
                       f"({kind} selections have no text positions)")
    absent = sum(1 for k in n if isinstance(k, tuple) and k[0] == "absent text source")
    if n["absent text codings"]:
        out.append(f"{n['absent text codings']} codings on {absent} text sources whose text is "
                   "not in the project: kept as codings with empty text")
    if n["whole source codings"]:
        out.append(f"{n['whole source codings']} codings of whole sources kept with empty text")
    if n["case node codings"]:
        out.append(f"{n['case node codings']} codings at case nodes used to link selections "
                   "to cases (respondents), not turned into codings")
    if linker.ambiguous:
        best, other = linker.example
        out.append(f"{linker.ambiguous} selections fall in several cases; each was linked to the "
                   f"case covering the fewest sources (e.g. '{best}' over '{other}')")
    if n["uncoded selections"]:
        out.append(f"{n['uncoded selections']} selections carry no code (nothing to import)")
    if n["unlinked"]:
        out.append(f"{n['unlinked']} codings not linked to a respondent")
    return [f"codings in {file}: {line}" for line in out]


# --------------------------------------------------------------------------- CSV exports

# export kind -> (description, role -> accepted header names, compared case-insensitively)
CSV_SHAPES = {
    "taguette": ("Taguette highlights export",
                 {"highlight_id": ("id",), "document": ("document",), "code": ("tag",),
                  "text": ("content",)}),
    "taguette-codebook": ("Taguette codebook export",
                          {"code": ("tag",), "description": ("description",),
                           "number of highlights": ("number of highlights",)}),
    "qualcoder": ("QualCoder-style coding export",
                  {"code": ("codename", "code name", "code"),
                   "text": ("coded text", "coded_text", "seltext", "text", "quote"),
                   "document": ("file", "filename", "file name", "file_or_casename",
                                "document", "source")}),
}
QUALCODER_OPTIONAL = {"case": ("case", "cases", "case name", "casename"),
                      "coder": ("coder", "owner"), "start": ("pos0", "start"),
                      "end": ("pos1", "end"), "coding_id": ("ctid", "id")}


def load_codes_csv(path: str | Path, *, rules: Rules | None = None, on_error: str = "raise",
                   report: ValidationReport | None = None,
                   codebook: str | Path | None = None, respondent_from: str = "document",
                   touchpoint_column: str | None = None, respondent_map: dict | None = None,
                   encoding: str = "utf-8-sig") -> dict[str, pd.DataFrame]:
    """Read a CSV code export into ``codings`` and ``codes`` (or a codebook into ``codes``).

    The export is recognised from its header (names compared case-insensitively):

    - Taguette highlights: ``id, document, tag, content``, one row per highlight x tag
      (``id`` repeats; each row is one coding, ``id`` is kept as ``highlight_id``);
    - Taguette codebook: ``tag, description, number of highlights`` (codes only);
    - QualCoder-style coding table: a code column (``codename``, ``code name`` or
      ``code``), a text column (``coded text``, ``seltext``, ``text`` or ``quote``) and a
      document column (``file``, ``filename``, ``file_or_casename``, ``document`` or
      ``source``); optional ``case``, ``coder``/``owner``, ``pos0``/``start``,
      ``pos1``/``end`` and ``ctid``/``id`` are kept.

    A header close to one of these but short of a column raises an InputError naming
    the missing column. ``respondent_from`` is ``"document"`` (the source document,
    whatever the export calls it) or the name of a column; ``respondent_map`` maps its
    values to respondent ids (unmapped values leave respondent_id empty; counted in
    ``report.notes``). ``codebook`` is a Taguette codebook CSV or a REFI-QDA codebook
    whose descriptions complete ``codes``.
    """
    path = check_file(path)
    file = str(path)
    report = ValidationReport.of(report)
    raw = read_csv_raw(path, encoding=encoding)
    kind, cols = _csv_kind(raw, file)
    if kind == "taguette-codebook":
        return {"codes": conform("codes", _taguette_codebook(raw, cols), file, rules=rules,
                                 on_error=on_error, report=report)}
    src = {"document": cols["document"], "code": cols["code"], "text": cols["text"]}

    def column(name: str, option: str) -> str:
        if name in cols:
            return cols[name]
        found = {c.lower(): c for c in raw.columns}.get(name.lower())
        if found is None:
            raise fail(path, f"{option}: no such column (columns found: "
                       f"{', '.join(raw.columns)})", column=name)
        return found

    blank = raw[src["code"]].isna().to_numpy()
    if blank.any() and on_error == "raise":
        raise InputError([Problem(file, "empty value: a coding without a code", int(r),
                                  src["code"]) for r in raw.index[blank]])
    who = raw[column(respondent_from, "respondent_from")]
    if respondent_map is not None:
        who = who.map(lambda v: respondent_map.get(v) if pd.notna(v) else None)
    codings = pd.DataFrame({"respondent_id": who, "source": raw[src["document"]],
                            "code": raw[src["code"]], "text": raw[src["text"]]},
                           index=raw.index)
    if touchpoint_column is not None:
        codings["touchpoint"] = raw[column(touchpoint_column, "touchpoint_column")]
    for role in ("start", "end", "case", "coder", "coding_id", "highlight_id"):
        if role in cols:
            codings[role] = raw[cols[role]]
    unlinked = int(codings["respondent_id"].isna().sum())
    if unlinked:
        report.notes.append(f"codings in {file}: {unlinked} codings not linked to a respondent")
    codes = _tags(codings, raw.index)
    if codebook is not None:
        codes = _merge_codebook(codes, codebook, file, report, on_error)
    return {"codes": conform("codes", codes, file if codebook is None else str(codebook),
                             rules=rules, on_error=on_error, report=report),
            "codings": conform("codings", codings, file, rules=rules, on_error=on_error,
                               report=report)}


def _csv_kind(raw: pd.DataFrame, file: str) -> tuple[str, dict[str, str]]:
    """Which export this is, and the role -> column name map; fail naming what is missing."""
    lower = {c.lower(): c for c in raw.columns}
    scores = {}
    for kind, (_, roles) in CSV_SHAPES.items():
        found = {role: next((lower[n] for n in names if n in lower), None)
                 for role, names in roles.items()}
        scores[kind] = found
        if not all(found.values()) or (kind == "taguette-codebook" and "content" in lower):
            continue
        if kind == "qualcoder":
            for role, names in QUALCODER_OPTIONAL.items():
                hit = next((lower[n] for n in names if n in lower), None)
                if hit is not None and hit not in found.values():
                    found[role] = hit
        return kind, found
    kind, found = max(scores.items(), key=lambda kv: sum(v is not None for v in kv[1].values()))
    if sum(v is not None for v in found.values()) >= 2:
        name, roles = CSV_SHAPES[kind]
        raise InputError([Problem(file, f"missing required column for a {name} (columns "
                                  f"found: {', '.join(raw.columns)})", None, roles[r][0])
                          for r, v in found.items() if v is None])
    raise fail(file, "not a recognised code export: expected Taguette highlights (id, "
               "document, tag, content), a Taguette codebook (tag, description, number of "
               "highlights) or a QualCoder-style table (codename, coded text, file); "
               f"columns found: {', '.join(raw.columns)}")


def _taguette_codebook(raw: pd.DataFrame, cols: dict[str, str]) -> pd.DataFrame:
    codes = pd.DataFrame({"code": raw[cols["code"]], "description": raw[cols["description"]]},
                         index=raw.index)
    codes["n_highlights"] = pd.to_numeric(raw[cols["number of highlights"]],
                                          errors="coerce").astype("Int64")
    return codes


def _tags(codings: pd.DataFrame, index: pd.Index) -> pd.DataFrame:
    """One code per distinct tag, labelled by the row where it first appears."""
    tags = codings["code"].astype("str").str.strip()
    first = ~tags.duplicated() & codings["code"].notna()
    return pd.DataFrame({"code": tags[first]}, index=index[first.to_numpy()])


def _merge_codebook(codes: pd.DataFrame, codebook: str | Path, file: str,
                    report: ValidationReport, on_error: str) -> pd.DataFrame:
    book_path = check_file(codebook)
    with book_path.open("rb") as fh:
        head = fh.read(512)
    if head.startswith(b"PK") or _looks_like_xml(head):
        inner = ValidationReport()  # its codes are counted once, after the merge
        book = load_refi_qda(book_path, on_error=on_error, report=inner)["codes"]
        report.problems += inner.problems
        for e in inner.exclusions:
            report.exclude(e.table, e.file, e.reason, e.rows)
    else:
        raw = read_csv_raw(book_path)
        kind, cols = _csv_kind(raw, str(book_path))
        if kind != "taguette-codebook":
            raise fail(book_path, "codebook: expected a Taguette codebook (tag, description, "
                       "number of highlights) or a REFI-QDA codebook")
        book = _taguette_codebook(raw, cols)
    known = set(book["code"].astype("str").str.strip())
    extra = codes[~codes["code"].isin(known)]
    if len(extra):
        report.notes.append(f"codes in {file}: {len(extra)} tags used in codings but absent "
                            f"from the codebook {book_path.name}: "
                            f"{', '.join(extra['code'].head(5))}")
    extra = extra.set_axis([f"{Path(file).name}:{i}" for i in extra.index], axis=0)
    return pd.concat([book, extra])
