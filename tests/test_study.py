import shutil

import pytest
from conftest import ROOT, write

from cxresearch import InputError, load_study
from cxresearch.cli import main

DEMO = ROOT / "data" / "demo"


def test_demo_study_loads_clean_with_string_ids():
    study = load_study(DEMO)
    assert study.report.ok and not study.report.exclusions
    assert study.report.counts["respondents"] == 1500
    assert study.respondents["respondent_id"].str.match(r"^R\d{6}$").all()
    assert study.event_log.cases() == 1500
    assert set(study.touchpoints["stage"]) == {"discovery", "purchase", "delivery", "support",
                                                "advocacy"}


def _copy_demo(tmp_path):
    dest = tmp_path / "study"
    shutil.copytree(DEMO, dest)
    return dest


def test_ratings_are_checked_against_the_journey_map(tmp_path):
    study = _copy_demo(tmp_path)
    lines = (study / "ratings.csv").read_text().splitlines()
    fields = lines[5].split(",")
    fields[1] = "teleporter"
    lines[5] = ",".join(fields)
    (study / "ratings.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_study(study)
    assert (err.value.file, err.value.row, err.value.column) == (
        str(study / "ratings.csv"), 6, "touchpoint")
    permissive = load_study(study, on_error="exclude")
    assert permissive.report.excluded_rows == 1
    assert permissive.report.counts["ratings"] == len(lines) - 2


def test_answers_from_unknown_respondents_are_named_by_file(tmp_path):
    study = _copy_demo(tmp_path)
    with (study / "outcomes.csv").open("a") as out:
        out.write("R999999,nps,9\nR999998,nps,3\n")
    loaded = load_study(study)
    [problem] = loaded.report.warnings
    assert (problem.file, problem.column) == ("outcomes.csv", "respondent_id")
    assert "2 outcomes rows from respondents not in the respondents table" in problem.message
    assert "R999999" in problem.message


def test_study_yml_sources_read_other_formats(tmp_path):
    write(tmp_path / "wide.csv", "id,seg,web,shop,nps\n007,a,5,,9\n008,b,2,3,4\n")
    write(tmp_path / "touchpoints.csv", "touchpoint,stage,stage_order\nweb,discovery,1\n"
          "shop,purchase,2\n")
    write(tmp_path / "study.yml", """
name: Wide one
scales: {valence: {min: 1, max: 5}}
sources:
  - file: wide.csv
    format: wide
    mapping:
      respondent_id: id
      segment: seg
      ratings: {web: {touchpoint: web}, shop: {touchpoint: shop}}
      outcomes: {nps: nps}
""")
    study = load_study(tmp_path)
    assert study.name == "Wide one"
    assert study.respondents["respondent_id"].tolist() == ["007", "008"]
    assert len(study.ratings) == 3 and len(study.outcomes) == 2
    assert any("blank" in n for n in study.report.notes)


def test_bad_study_yml_names_the_file_and_line(tmp_path):
    write(tmp_path / "study.yml", "name: x\nscales: [unclosed\n")
    with pytest.raises(InputError) as err:
        load_study(tmp_path)
    assert err.value.file.endswith("study.yml") and err.value.row == 3


def test_scale_without_bounds_is_an_error(tmp_path):
    write(tmp_path / "study.yml", "scales: {valence: {min: 1}}\n")
    with pytest.raises(InputError, match="scale 'valence' needs 'min' and 'max'"):
        load_study(tmp_path)


def test_empty_table_file_is_an_error(tmp_path):
    write(tmp_path / "ratings.csv", "")
    with pytest.raises(InputError, match="ratings.csv: file is empty"):
        load_study(tmp_path)


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(InputError, match="study folder not found"):
        load_study(tmp_path / "nowhere")


def test_subset_keeps_only_the_segment_and_its_events():
    study = load_study(DEMO)
    part = study.subset(segment="loyalist", wave="2025-H2")
    ids = set(part.respondents["respondent_id"])
    assert ids and set(part.respondents["segment"]) == {"loyalist"}
    assert set(part.ratings["respondent_id"]) <= ids
    assert part.event_log.cases() == len(ids)


def test_fingerprint_follows_the_bytes(tmp_path):
    study = _copy_demo(tmp_path)
    before = load_study(study).fingerprint
    assert load_study(study).fingerprint == before
    with open(study / "comments.csv", "a") as fh:
        fh.write("R000001,,extra comment,en\n")
    assert load_study(study).fingerprint != before


def test_cli_validate_prints_counts_and_exits_0_on_the_demo(capsys):
    assert main(["validate", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert "ratings" in out and "4,485" in out and "OK" in out


def test_cli_validate_lists_every_problem_and_exits_1(tmp_path, capsys):
    study = _copy_demo(tmp_path)
    text = (study / "outcomes.csv").read_text().splitlines()
    head, rows = text[0], text[1:]
    nps_row = next(i for i, r in enumerate(rows) if ",nps," in r)
    rows[nps_row] = rows[nps_row].rsplit(",", 1)[0] + ",11"
    (study / "outcomes.csv").write_text("\n".join([head, *rows]) + "\n")
    assert main(["validate", str(study)]) == 1
    out = capsys.readouterr().out
    assert f"outcomes.csv, row {nps_row + 2}, column 'value'" in out and "FAILED" in out


def test_subset_without_filters_is_the_study_and_counts_what_a_filter_leaves_out(tmp_path):
    study = _copy_demo(tmp_path)
    with open(study / "codings.csv", "a") as fh:
        fh.write(",delivery,late_delivery,an unlinked excerpt\n")
    loaded = load_study(study)
    assert loaded.subset() is loaded
    part = loaded.subset(segment="loyalist")
    assert any("1 codings rows of unknown respondents" in n for n in part.report.notes)
    assert not any("unknown respondents" in n for n in loaded.report.notes)


def test_subset_keeps_an_event_log_whose_cases_are_not_respondents(tmp_path):
    write(tmp_path / "respondents.csv", "respondent_id,segment\n1,a\n2,b\n")
    write(tmp_path / "events.csv", "case_id,timestamp,touchpoint\nT9,2026-01-01 10:00,web\n"
          "T9,2026-01-01 10:05,shop\n")
    part = load_study(tmp_path).subset(segment="a")
    assert part.event_log.count() == 2
    assert any("whole log is kept" in n for n in part.report.notes)


@pytest.mark.parametrize(("source", "column", "words"), [
    ("{file: r.csv, format: tidy, tabel: ratings}", "tabel", "unknown option 'tabel'"),
    ("{file: r.csv, format: tidy}", "table", "format 'tidy' needs 'table'"),
    ("{file: r.csv, format: sas}", "format", "unknown format 'sas'"),
])
def test_a_bad_source_in_study_yml_names_the_source_and_key(tmp_path, source, column, words):
    write(tmp_path / "r.csv", "respondent_id,touchpoint,value\n1,web,3\n")
    write(tmp_path / "study.yml", f"sources:\n  - {source}\n")
    with pytest.raises(InputError) as err:
        load_study(tmp_path)
    assert err.value.file.endswith("study.yml") and err.value.column == column
    assert err.value.row == "source 1 (r.csv)" and words in str(err.value)
