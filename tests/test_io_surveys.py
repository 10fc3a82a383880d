"""Survey loaders (wide tables, Qualtrics, SPSS) on real exports and malformed variants."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from conftest import shared_file, write

from cxresearch.errors import InputError
from cxresearch.io import loader
from cxresearch.io.mapping import read_mapping
from cxresearch.io.qualtrics import load_qualtrics
from cxresearch.io.spss import load_spss
from cxresearch.io.wide import load_wide
from cxresearch.schema import Rules, ValidationReport
from cxresearch.study import load_study

NPS_FIXTURE = Path(__file__).parent / "fixtures" / "surveys" / "qualtrics_nps.csv"
AGREE7 = ["Strongly Disagree", "Moderately Disagree", "Slightly Disagree",
          "Neither Agree nor Disagree", "Slightly Agree", "Moderately Agree", "Strongly Agree"]
AGREE5 = ["Strongly Disagree", "Disagree", "Neutral", "Agree", "Strongly Agree"]

SAMPLE_MAP = {"respondent_id": "ResponseId", "attributes": ["Status", "StartDate", "Finished"],
              "ratings": {"Q1": {"touchpoint": "website", "scale": {"min": 1, "max": 5}}},
              "comments": {"Q2": {}}}
NPS_MAP = {"respondent_id": "ResponseId", "segment": "Q1", "wave": {"value": "2025-H2"},
           "language": "UserLanguage", "answered_at": "RecordedDate",
           "scale": {"min": 1, "max": 5},
           "ratings": {"Q2_1": {"touchpoint": "website"}, "QID2_2": {"touchpoint": "checkout"},
                       "Q2_3": {"touchpoint": "delivery"}},
           "outcomes": {"QID3": "nps"}, "comments": {"Q4": {}}}


def staff_mapping(columns: list[str]) -> dict:
    """data_qualtrics.csv: 18 agreement items on 7 points (some reverse-keyed), 4 on 5."""
    ratings = {}
    for c in columns:
        scale, _, rest = c.partition("_")
        item = rest.split("_")[0]
        if c.endswith("likert5"):
            ratings[c] = {"touchpoint": "job", "item": item, "scale": {"min": 1, "max": 5},
                          "labels": {label: i for i, label in enumerate(AGREE5, 1)}}
        elif "likert7" in c:
            ratings[c] = {"touchpoint": scale, "item": item}
    return {"respondent_id": "ResponseId", "attributes": {"sex": "sex", "born": "QID2"},
            "answered_at": "RecordedDate", "scale": {"min": 1, "max": 7},
            "labels": {label.lower(): i for i, label in enumerate(AGREE7, 1)},
            "reverse": [c for c in columns if c.endswith("rev")], "ratings": ratings}


def staff_file():
    path = shared_file("surveys/dstanley4__psyc4780bookdown/data_qualtrics.csv")
    return path, pd.read_csv(path, dtype=str, keep_default_na=False, skiprows=[1, 2])


# -- Qualtrics: real exports -------------------------------------------------------------

def test_modern_and_legacy_layouts_give_the_same_tidy_rows():
    modern = load_qualtrics(shared_file("surveys/ropensci__qualtRics/sample.csv"),
                            mapping=SAMPLE_MAP)
    legacy = load_qualtrics(shared_file("surveys/ropensci__qualtRics/sample_legacy.csv"),
                            mapping=SAMPLE_MAP)
    assert set(modern) == set(legacy) == {"respondents", "ratings", "comments"}
    for name in modern:
        pd.testing.assert_frame_equal(modern[name], legacy[name])
    assert modern["respondents"]["respondent_id"].tolist() == ["R_2YPOQ602ER1jkf1"]
    assert modern["ratings"]["value"].tolist() == [2]
    assert modern["comments"]["text"].tolist() == ["Hello World!"]


@pytest.mark.parametrize(("name", "mapping", "row"), [
    ("sample.csv", {"respondent_id": "_recordId", "ratings": {"QID2_TEXT": "web"}}, 4),
    ("sample_legacy.csv", {"respondent_id": "V1", "ratings": {"Q2": "web"}}, 3),
])
def test_first_response_row_and_columns_by_importid_or_v_name(name, mapping, row):
    path = shared_file(f"surveys/ropensci__qualtRics/{name}")
    with pytest.raises(InputError) as err:
        load_qualtrics(path, mapping=mapping | {"scale": {"min": 1, "max": 5}})
    assert (err.value.file, err.value.row, err.value.column) == (str(path), row, "Q2")
    assert "'Hello World!' is neither a number nor a label" in str(err.value)


def test_text_labels_reverse_keys_and_two_scales_on_a_real_export():
    path, raw = staff_file()
    report = ValidationReport()
    tables = load_qualtrics(path, mapping=staff_mapping(list(raw.columns)), report=report)
    people, ratings = tables["respondents"], tables["ratings"]
    assert len(people) == 150 and people["respondent_id"].is_unique
    assert len(ratings) == 150 * 22 and ratings["value"].notna().all()
    by_scale = ratings.groupby("scale_max")["value"].agg(["min", "max", "size"])
    assert by_scale.to_dict("index") == {5: {"min": 1, "max": 5, "size": 600},
                                         7: {"min": 1, "max": 7, "size": 2700}}
    # the labels decoded independently; reverse-keyed items turned around (8 - code)
    code7 = {label: i for i, label in enumerate(AGREE7, 1)}
    got = ratings.set_index(["respondent_id", "touchpoint", "item"])["value"]
    for column, tp, item, rev in [("aff_com1_likert7", "aff", "com1", False),
                                  ("aff_com3_likert7rev", "aff", "com3", True),
                                  ("norm_com1_likert7rev", "norm", "com1", True)]:
        want = raw[column].map(code7)
        want = 8 - want if rev else want
        assert got.xs((tp, item), level=(1, 2)).tolist() == want.tolist()
    job = raw["job_aff2_likert5"].map({label: i for i, label in enumerate(AGREE5, 1)})
    assert got.xs(("job", "aff2"), level=(1, 2)).tolist() == job.tolist()
    # dates re-saved by a spreadsheet (no seconds) still parse
    assert ratings["answered_at"].iloc[0] == pd.Timestamp("2021-08-11 16:10")
    assert people["sex"].value_counts().to_dict().keys() <= {"female", "male", "intersex"}
    assert any("150 'Survey Test'" in n for n in report.notes)


def test_keep_status_excludes_and_counts_test_responses():
    path, raw = staff_file()
    report = ValidationReport()
    tables = load_qualtrics(path, mapping=staff_mapping(list(raw.columns)), report=report,
                            keep_status=("IP Address",))
    assert len(tables["respondents"]) == 0 and len(tables["ratings"]) == 0
    assert [(e.rows, e.reason) for e in report.exclusions] == [
        (150, "status 'Survey Test' not in keep_status")]


# -- Qualtrics: the NPS fixture ------------------------------------------------------------

def test_nps_export_with_its_group_column_and_previews():
    report = ValidationReport()
    tables = load_qualtrics(NPS_FIXTURE, mapping=NPS_MAP, report=report, keep_status=["0"])
    people = tables["respondents"]
    assert people["respondent_id"].tolist() == [
        "R_2zNq8Xc1Lw4Kp0A", "R_1dMv7QeY3sTb9Hk", "R_3kPf0WnZ6uCj2Ra", "R_6yBc2JrE9nQw4Ft",
        "R_5eLx9KaU1oVz7Pd", "R_8sWm4FhN0iRy3Gb"]
    assert set(people["wave"]) == {"2025-H2"} and people["segment"].tolist()[:2] == ["1", "2"]
    nps = tables["outcomes"]
    assert nps["value"].tolist() == [9, 3, 7, 0, 10] and set(nps["outcome"]) == {"nps"}
    assert len(tables["ratings"]) == 6 * 3 - 2
    comments = tables["comments"]
    assert comments["language"].tolist() == ["EN", "ES", "EN", "EN"]
    assert comments["text"].iloc[2] == ("Delivery was late.\nThe driver left the parcel "
                                        "outside, in the rain.")
    assert report.warnings == []  # every group agrees with its 0-10 answer
    assert [(e.rows, e.reason) for e in report.exclusions] == [
        (1, "status 'Survey Preview' not in keep_status")]
    notes = "\n".join(report.notes)
    assert "2 blank answers (not answered) not turned into ratings" in notes
    assert "1 blank answers (not answered) not turned into outcomes" in notes
    assert "2 blank open answers not turned into comments" in notes


def test_nps_group_that_disagrees_is_a_warning_naming_row_and_column(tmp_path):
    text = NPS_FIXTURE.read_text(encoding="utf-8")
    path = write(tmp_path / "nps.csv", text.replace(",1,4,5,4,3,9,", ",1,4,5,4,1,9,"))
    report = ValidationReport()
    tables = load_qualtrics(path, mapping=NPS_MAP, report=report)
    assert tables["outcomes"]["value"].iloc[0] == 9  # the answer, not the group, is used
    [warning] = report.warnings
    assert (warning.row, warning.column) == (4, "Q3_NPS_GROUP")
    assert "disagrees with the answer 9" in warning.message


def test_mapping_the_nps_group_column_is_refused():
    with pytest.raises(InputError, match="map the 0-10 column instead") as err:
        load_qualtrics(NPS_FIXTURE, mapping=NPS_MAP | {"outcomes": {"Q3_NPS_GROUP": "nps"}})
    assert err.value.column == "Q3_NPS_GROUP"


# -- SPSS ----------------------------------------------------------------------------------

def test_spss_value_labels_become_segments_and_scale_labels():
    tables = load_spss(shared_file("surveys/Roche__pyreadstat/sample.zsav"), mapping={
        "respondent_id": "mychar", "segment": "mylabl", "answered_at": "dtime",
        "ratings": {"myord": {"touchpoint": "web", "scale": {"min": 1, "max": 3}}}})
    people, ratings = tables["respondents"], tables["ratings"]
    assert people["respondent_id"].tolist() == ["a", "b", "c", "d", "e"]
    assert people["segment"].tolist() == ["Male", "Female", "Male", "Female", "Male"]
    assert ratings["value"].tolist() == [1, 2, 3, 1, 1]  # codes kept
    assert ratings["answered_at"].iloc[0] == pd.Timestamp("2018-05-06 10:10:10")
    assert tables["scale_labels"].to_dict("list") == {
        "item": ["valence"] * 3, "value": [1, 2, 3], "label": ["low", "medium", "high"]}


def test_spss_user_missing_values_are_not_answered_and_counted():
    report = ValidationReport()
    tables = load_spss(shared_file("surveys/Roche__pyreadstat/sample_missing.sav"), report=report,
                       mapping={"respondent_id": {"row_number": True}, "segment": "mylabl",
                                "ratings": {"myord": {"touchpoint": "web",
                                                      "scale": {"min": 1, "max": 3}}},
                                "outcomes": {"mynum": "spend"}})
    # myord -1 and -3 and mynum -1 and 2500 (range 2000-3000) are user-missing
    assert tables["ratings"]["respondent_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert tables["outcomes"]["value"].tolist() == [1.1, 1.2, -1000.3, -1.4, 1000.3]
    assert tables["respondents"]["segment"].isna().tolist() == [False] * 5 + [True, True]
    assert "missing" not in tables["scale_labels"]["label"].tolist()  # label of code -1
    notes = "\n".join(report.notes)
    assert "5 SPSS user-missing values" in notes
    assert "2 blank answers (not answered) not turned into ratings" in notes


def test_spss_missing_value_ranges_and_unlabelled_codes():
    tables = load_spss(shared_file("surveys/Roche__pyreadstat/simple_alltypes.sav"), mapping={
        "respondent_id": {"row_number": True}, "segment": "x", "outcomes": {"z": "score"}})
    # x: 1-3 labelled, 4 and 9 unlabelled, 8 user-missing; z: -999..0 and 999 missing
    assert tables["respondents"]["segment"].tolist()[:4] == ["red", "green", "blue", "4"]
    assert pd.isna(tables["respondents"]["segment"].iloc[4])
    assert tables["outcomes"]["value"].round(5).tolist() == [1.234, 3.14159]


def test_spss_umlauts_in_value_labels_survive():
    tables = load_spss(shared_file("surveys/tidyverse__haven/umlauts.sav"), mapping={
        "respondent_id": {"row_number": True}, "segment": "var1",
        "ratings": {"var1": {"touchpoint": "store", "scale": {"min": 1, "max": 3}}}})
    assert tables["respondents"]["segment"].tolist() == [
        "the ä umlaut", "the ü umlaut", "the ä umlaut", "the ö umlaut"]
    assert tables["ratings"]["value"].tolist() == [1, 2, 1, 3]
    assert tables["scale_labels"]["label"].tolist() == [
        "the ä umlaut", "the ü umlaut", "the ö umlaut"]


def test_spss_ids_stay_strings(tmp_path):
    path = tmp_path / "ids.sav"
    df = pd.DataFrame({"id": ["000123", "007"], "q1": [4.0, 5.0]})
    pyreadstat.write_sav(df, str(path), variable_value_labels={"q1": {1.0: "bad", 5.0: "good"}})
    tables = load_spss(path, mapping={"respondent_id": "id", "scale": {"min": 1, "max": 5},
                                      "ratings": {"q1": "web"}})
    assert tables["ratings"]["respondent_id"].tolist() == ["000123", "007"]
    assert tables["scale_labels"]["value"].tolist() == [1, 5]


# -- wide tables ---------------------------------------------------------------------------

def test_wide_satisfaction_study_through_a_yaml_mapping(tmp_path):
    path = shared_file("surveys/GoogleCloudPlatform__plspm-python/satisfaction.csv")
    raw = pd.read_csv(path)
    items = [c for c in raw.columns if c[:-1] in ("imag", "qual", "sat")]
    lines = ["respondent_id: 'Unnamed: 0'  # the file's unnamed row-name column",
             "attributes: [gender]", "scale: {min: 0, max: 10}", "outcomes: {loy2: nps}",
             "ratings:"] + [f"  {c}: {{touchpoint: {c[:-1]}, item: {c}}}" for c in items]
    mapping = write(tmp_path / "map.yml", "\n".join(lines))
    report = ValidationReport()
    tables = loader("wide")(path, mapping=mapping, report=report)
    assert len(tables["respondents"]) == 250
    assert tables["respondents"]["respondent_id"].tolist()[:3] == ["1", "2", "3"]
    ratings = tables["ratings"]
    assert len(ratings) == 250 * len(items) == report.counts["ratings"]
    sums = ratings.groupby("item")["value"].sum()
    assert all(sums[c] == raw[c].sum() for c in items)
    assert tables["outcomes"]["value"].tolist() == raw["loy2"].astype(float).tolist()


@pytest.mark.parametrize("suffix", ["parquet", "xlsx"])
def test_wide_parquet_and_excel_keep_leading_zeros_and_count_blanks(tmp_path, suffix):
    path = tmp_path / f"survey.{suffix}"
    df = pd.DataFrame({"id": ["000123", "000124", "000125"], "web": [5.0, np.nan, 3.0],
                       "note": ["fast", None, " "]})
    df.to_parquet(path) if suffix == "parquet" else df.to_excel(path, index=False)
    report = ValidationReport()
    tables = load_wide(path, report=report, mapping={
        "respondent_id": "id", "scale": {"min": 1, "max": 5},
        "ratings": {"web": "website"}, "comments": {"note": "website"}})
    assert tables["ratings"]["respondent_id"].tolist() == ["000123", "000125"]
    assert tables["comments"]["text"].tolist() == ["fast"]
    assert any("1 blank answers (not answered) not turned into ratings" in n
               for n in report.notes)


def test_study_yml_source_with_a_mapping_file_beside_it(tmp_path):
    (tmp_path / "survey.csv").write_bytes(NPS_FIXTURE.read_bytes())
    write(tmp_path / "map.yml", "respondent_id: ResponseId\nratings: {Q2_1: website}\n"
          "outcomes: {QID3: nps}\n")
    write(tmp_path / "study.yml", "scales: {valence: {min: 1, max: 5}}\nsources:\n"
          "  - {file: survey.csv, format: qualtrics, mapping: map.yml,\n"
          "     keep_status: [IP Address]}\n")
    study = load_study(tmp_path)
    assert len(study.respondents) == 6 and study.outcomes["value"].sum() == 29
    assert study.ratings["scale_max"].eq(5).all()
    assert study.report.excluded_rows == 1


def test_label_mapped_to_null_is_not_answered(tmp_path):
    path = write(tmp_path / "s.csv", "id,q\n1,Good\n2,dont  KNOW\n3,Bad\n")
    report = ValidationReport()
    tables = load_wide(path, report=report, mapping={
        "respondent_id": "id", "scale": {"min": 1, "max": 2},
        "labels": {"Bad": 1, "Good": 2, "Dont know": None}, "ratings": {"q": "web"}})
    assert tables["ratings"]["value"].tolist() == [2, 1]
    assert any("1 blank answers" in n for n in report.notes)


# -- malformed input -----------------------------------------------------------------------

def modern_lines() -> list[str]:
    return NPS_FIXTURE.read_bytes().decode("utf-8").split("\r\n")


@pytest.mark.parametrize(("drop", "row", "words"), [
    (2, 3, "header row 3 (ImportId JSON"),
    (1, 2, "header row 2 (question text) is missing"),
])
def test_missing_header_row_is_named(tmp_path, drop, row, words):
    lines = modern_lines()
    del lines[drop]
    path = write(tmp_path / "export.csv", "\n".join(lines))
    with pytest.raises(InputError) as err:
        load_qualtrics(path, mapping=NPS_MAP)
    assert (err.value.file, err.value.row) == (str(path), row)
    assert words in str(err.value)


def test_mapping_naming_an_absent_column(tmp_path):
    with pytest.raises(InputError, match="mapping key 'ratings.Q9_1' names a column") as err:
        load_qualtrics(NPS_FIXTURE, mapping=NPS_MAP | {"ratings": {"Q9_1": "web"}})
    assert (err.value.file, err.value.column) == (str(NPS_FIXTURE), "Q9_1")


def test_rating_outside_the_scale(tmp_path):
    path = write(tmp_path / "s.csv", "id,web,shop\n1,3,4\n2,5,6\n")
    with pytest.raises(InputError, match="rating '6' outside its scale 1-5") as err:
        load_wide(path, mapping={"respondent_id": "id", "scale": {"min": 1, "max": 5},
                                 "ratings": {"web": "web", "shop": "shop"}})
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 3, "shop")


def test_text_label_not_in_labels(tmp_path):
    source, _ = staff_file()
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[9] = lines[9].replace("Slightly Agree", "Agree a bit", 1)
    path = write(tmp_path / "staff.csv", "\n".join(lines))
    column = next(c for c, v in zip(lines[0].split(","), lines[9].split(","), strict=False)
                  if v == "Agree a bit")
    with pytest.raises(InputError, match="'Agree a bit' is neither a number nor one of its "
                       "labels") as err:
        load_qualtrics(path, mapping=staff_mapping(lines[0].split(",")))
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 10, column)


def test_duplicate_respondent_id(tmp_path):
    lines = modern_lines()
    lines[6] = lines[6].replace("R_0aHs5TgD8mVx1Lq", "R_1dMv7QeY3sTb9Hk")
    path = write(tmp_path / "export.csv", "\n".join(lines))
    with pytest.raises(InputError, match="duplicate respondent_id") as err:
        load_qualtrics(path, mapping=NPS_MAP)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 7, "ResponseId")


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    path = write(tmp_path / "export.csv", content)
    for load in (load_qualtrics, load_wide):
        with pytest.raises(InputError, match="file is empty") as err:
            load(path, mapping=NPS_MAP)
        assert err.value.file == str(path)


def test_wrong_encoding_names_the_line(tmp_path):
    path = tmp_path / "export.csv"
    text = "\n".join(modern_lines()).replace("falló", "fall\u00f3")
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match="cannot decode as utf-8-sig") as err:
        load_qualtrics(path, mapping=NPS_MAP)
    assert (err.value.file, err.value.row) == (str(path), 5)
    tables = load_qualtrics(path, mapping=NPS_MAP, encoding="latin-1")
    assert "falló" in tables["comments"]["text"].iloc[1]


def test_corrupt_sav(tmp_path):
    path = tmp_path / "broken.sav"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(InputError, match="not a readable SPSS file") as err:
        load_spss(path, mapping={"respondent_id": "id"})
    assert err.value.file == str(path)


def test_nps_of_eleven(tmp_path):
    lines = modern_lines()
    lines[8] = lines[8].replace(",3,10,Great", ",3,11,Great")
    path = write(tmp_path / "export.csv", "\n".join(lines))
    with pytest.raises(InputError, match="NPS answer '11' outside its scale 0-10") as err:
        load_qualtrics(path, mapping=NPS_MAP)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 9, "Q3")


def test_legacy_file_with_ragged_rows(tmp_path):
    source = shared_file("surveys/ropensci__qualtRics/sample_legacy.csv")
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    lines += [lines[2].replace("R_2YPOQ602ER1jkf1", "R_x"),
              lines[2].replace("R_2YPOQ602ER1jkf1", "R_y") + "extra,fields,",
              "R_z,Standard-Antwortsatz,Anonym,"]
    path = write(tmp_path / "legacy.csv", "\ufeff" + "\n".join(lines))
    with pytest.raises(InputError) as err:
        load_qualtrics(path, mapping=SAMPLE_MAP)
    assert (err.value.file, err.value.row) == (str(path), 5)
    assert [p.row for p in err.value.problems] == [5, 6]
    assert "row has 18 fields where the header has 16" in str(err.value)
    report = ValidationReport()
    tables = load_qualtrics(path, mapping=SAMPLE_MAP, on_error="exclude", report=report)
    assert tables["respondents"]["respondent_id"].tolist() == ["R_2YPOQ602ER1jkf1", "R_x"]
    assert report.excluded_rows == 2


def test_unknown_touchpoint_with_a_journey_map():
    rules = Rules(touchpoints=frozenset({"website", "delivery", "checkout"}))
    mapping = NPS_MAP | {"ratings": {"Q2_1": "website", "Q2_2": "chekout"}}
    with pytest.raises(InputError, match="touchpoint 'chekout' .*not in the journey map") as e:
        load_qualtrics(NPS_FIXTURE, mapping=mapping, rules=rules)
    assert (e.value.file, e.value.column) == (str(NPS_FIXTURE), "Q2_2")
    report = ValidationReport()
    tables = load_qualtrics(NPS_FIXTURE, mapping=mapping, rules=rules, on_error="exclude",
                            report=report)
    assert set(tables["ratings"]["touchpoint"]) == {"website"}
    assert [(e.rows, e.reason) for e in report.exclusions] == [
        (6, "touchpoint not in the journey map")]


def test_exclude_counts_every_excluded_row(tmp_path):
    path = write(tmp_path / "s.csv", "id,w,web,shop,nps\n1,1,3,4,9\n2,-1,5,4,8\n"
                 "3,1,9,x,7\n4,1,2,2.5,12\n1,1,1,1,1\n")
    report = ValidationReport()
    tables = load_wide(path, on_error="exclude", report=report, mapping={
        "respondent_id": "id", "weight": "w", "scale": {"min": 1, "max": 5},
        "ratings": {"web": "web", "shop": "shop"}, "outcomes": {"nps": "nps"}})
    assert tables["respondents"]["respondent_id"].tolist() == ["1", "3", "4"]
    assert tables["ratings"]["value"].tolist() == [3, 4, 2]
    assert tables["outcomes"]["value"].tolist() == [9, 7]
    got = {(e.table, e.reason): e.rows for e in report.exclusions}
    assert got == {
        ("respondents", "weight must be positive"): 1,
        ("respondents", "duplicate respondent_id (first kept)"): 1,
        ("ratings", "answer neither a number nor a label"): 1,
        ("ratings", "answer not a whole number"): 1,
        ("ratings", "rating outside its scale"): 1,
        ("ratings", "answer of an excluded respondent row"): 4,
        ("outcomes", "NPS answer outside its scale"): 1,
        ("outcomes", "answer of an excluded respondent row"): 2}
    assert report.excluded_rows == 12
    rows = {(p.row, p.column) for p in report.excluded}
    assert {(3, "w"), (6, "id"), (4, "web"), (4, "shop"), (5, "shop"), (5, "nps")} <= rows


@pytest.mark.parametrize(("mapping", "words"), [
    (["respondent_id"], "a mapping must be a dict"),
    ({"respondent_id": "id", "rating": {}}, "unknown key 'rating'"),
    ({"ratings": {"q": "web"}}, "'respondent_id': required"),
    ({"respondent_id": "id", "ratings": {"q": {"touchpoint": "web", "scael": {}}}},
     "mapping key 'ratings.q': unknown key 'scael'"),
    ({"respondent_id": "id", "ratings": {"q": {}}}, "needs a 'touchpoint'"),
    ({"respondent_id": "id", "scale": {"min": 5, "max": 1}}, "must exceed min"),
    ({"respondent_id": "id", "labels": {"Good": "five"}}, "must map to a number or null"),
    ({"respondent_id": "id", "labels": {"Good": 5, "good ": 4}}, "given twice"),
    ({"respondent_id": "id", "reverse": ["q9"], "ratings": {"q": "web"}},
     "'q9' is not a ratings column"),
    ({"respondent_id": "id", "ratings": {"q": "web", "r": "web"}},
     "same touchpoint and item as 'ratings.q'"),
    ({"respondent_id": "id", "attributes": {"segment": "q"}}, "name taken"),
])
def test_bad_mappings_are_clear_errors(mapping, words):
    with pytest.raises(InputError, match=words) as err:
        read_mapping(mapping)
    assert err.value.file == "mapping"


def test_bad_yaml_mapping_names_its_file_and_line(tmp_path):
    path = write(tmp_path / "map.yml", "respondent_id: id\nratings:\n  q: [web\n")
    with pytest.raises(InputError, match="not valid YAML") as err:
        load_wide(NPS_FIXTURE, mapping=path)
    assert err.value.file == str(path) and err.value.row == 4


def test_rating_without_any_scale_is_a_clear_error():
    with pytest.raises(InputError, match="no scale for the ratings of item 'valence'") as err:
        load_qualtrics(NPS_FIXTURE, mapping=NPS_MAP | {"scale": None})
    assert err.value.column == "Q2_1"
    tables = load_qualtrics(NPS_FIXTURE, mapping=NPS_MAP | {"scale": None},
                            rules=Rules(scales={"valence": (1, 5)}))
    assert tables["ratings"]["scale_max"].eq(5).all()


def test_spss_rating_outside_scale_names_the_case(tmp_path):
    path = tmp_path / "s.sav"
    pyreadstat.write_sav(pd.DataFrame({"id": ["a", "b", "c"], "q": [1.0, 4.0, 9.0]}),
                         str(path), missing_ranges={"q": [9.0]})
    mapping = {"respondent_id": "id", "scale": {"min": 1, "max": 5}, "ratings": {"q": "web"}}
    assert load_spss(path, mapping=mapping)["ratings"]["value"].tolist() == [1, 4]
    pyreadstat.write_sav(pd.DataFrame({"id": ["a", "b", "c"], "q": [1.0, 7.0, 2.0]}),
                         str(path))
    with pytest.raises(InputError, match="rating 7 outside its scale 1-5") as err:
        load_spss(path, mapping=mapping)
    assert (err.value.file, err.value.row, err.value.column) == (str(path), 2, "q")


def test_keep_status_without_a_status_column(tmp_path):
    with open(NPS_FIXTURE, newline="", encoding="utf-8") as f:
        records = [r[:2] + r[3:] for r in csv.reader(f)]  # the export without Status
    path = tmp_path / "export.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(records)
    assert len(load_qualtrics(path, mapping=NPS_MAP)["respondents"]) == 7
    with pytest.raises(InputError, match="no Status column") as err:
        load_qualtrics(path, mapping=NPS_MAP, keep_status=["0"])
    assert (err.value.file, err.value.column) == (str(path), "Status")
