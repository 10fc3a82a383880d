"""Journey event logs (CSV, Parquet, XES) in DuckDB and aggregated path counts."""

from __future__ import annotations

import gc
import gzip
import warnings
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import shared_file, write

from cxresearch.errors import InputError
from cxresearch.io import loader
from cxresearch.io.events import MAX_LISTED_ROWS, EventLog, load_events, load_paths, load_xes
from cxresearch.schema import PATH_SEPARATOR, Rules, ValidationReport

PM4PY = "journeys/pm4py__pm4py-core"
PM4PY_CSV = {"case_id": "case:concept:name", "touchpoint": "concept:name",
             "timestamp": "time:timestamp"}
DATA_CSV = "journeys/DavideAltomare__ChannelAttribution/Data.csv"
CORE = ["case_id", "timestamp", "touchpoint"]
MAP = Rules(touchpoints=frozenset({"web", "app", "store", "call"}))


def events_csv(tmp_path: Path, body: str, name: str = "events.csv", **kw) -> Path:
    return write(tmp_path / name, "case_id,timestamp,touchpoint,channel\n" + body, **kw)


def error_of(call, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    return info.value


def core(log: EventLog) -> pd.DataFrame:
    return log.to_pandas(CORE).reset_index(drop=True)


# ---------------------------------------------------------------- real logs


def test_running_example_csv_and_xes_give_the_same_events():
    report = ValidationReport()
    csv_log = load_events(shared_file(f"{PM4PY}/running-example.csv"), report=report,
                          **PM4PY_CSV)["events"]
    xes_log = load_xes(shared_file(f"{PM4PY}/running-example.xes"), report=report)["events"]
    for log in (csv_log, xes_log):
        assert (log.count(), log.cases(), len(log.touchpoints())) == (42, 6, 8)
    pd.testing.assert_frame_equal(core(csv_log), core(xes_log))
    assert report.counts["events"] == 84
    # case 3 starts 2010-12-30 14:32:00+01:00 in both files: stored as 13:32 UTC
    first = csv_log.to_pandas(where="case_id = '3'").iloc[0]
    assert (first["touchpoint"], str(first["timestamp"])) == ("register request",
                                                               "2010-12-30 13:32:00")
    assert "case:creator" in xes_log.columns and "org:resource" in csv_log.columns


def test_roadtraffic_csv_and_xes_agree_across_daylight_saving_offsets():
    csv_log = load_events(shared_file(f"{PM4PY}/roadtraffic100traces.csv"), **PM4PY_CSV)["events"]
    xes_log = load_xes(shared_file(f"{PM4PY}/roadtraffic100traces.xes"))["events"]
    for log in (csv_log, xes_log):
        assert (log.count(), log.cases()) == (390, 100)
    pd.testing.assert_frame_equal(core(csv_log), core(xes_log))
    # N77802: Create Fine 2005-03-23 00:00+01:00, Send Fine 2005-07-22 00:00+02:00
    stamps = csv_log.to_pandas(["timestamp"], where="case_id = 'N77802'")["timestamp"]
    assert [str(t) for t in stamps] == ["2005-03-22 23:00:00", "2005-07-21 22:00:00"]


def test_helpdesk_gzipped_xes_with_customer_attribute():
    report = ValidationReport()
    log = load_xes(shared_file(f"{PM4PY}/helpdesk.xes.gz"), report=report)["events"]
    assert (log.count(), log.cases(), len(log.touchpoints())) == (21_348, 4_580, 14)
    assert log.sql("SELECT count(DISTINCT customer) AS n FROM events")["n"].iloc[0] == 397
    variants = log.sql("SELECT count(DISTINCT v) AS n FROM (SELECT string_agg(touchpoint, '>' "
                       "ORDER BY timestamp, seq) AS v FROM events GROUP BY case_id)")
    assert variants["n"].iloc[0] == 226
    assert report.counts == {"events": 21_348}


def test_channel_attribution_paths():
    report = ValidationReport()
    paths = load_paths(shared_file(DATA_CSV), report=report)["paths"]
    assert len(paths) == 10_000 and report.counts["paths"] == 10_000
    assert int((paths["conversions"] + paths["nulls"]).sum()) == 88_387
    assert paths["path"].iloc[0] == "eta > iota > alpha > eta"
    channels = {s for p in paths["path"] for s in p.split(PATH_SEPARATOR)}
    assert len(channels) == 12
    checked = load_paths(shared_file(DATA_CSV), rules=Rules(touchpoints=frozenset(channels)))
    assert len(checked["paths"]) == 10_000


def test_paths_unknown_touchpoint_against_journey_map():
    known = frozenset({"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
                       "iota", "kappa", "lambda"})  # "mi" is missing
    report = ValidationReport()
    out = load_paths(shared_file(DATA_CSV), rules=Rules(touchpoints=known), on_error="exclude",
                     report=report)["paths"]
    dropped = report.exclusions[0]
    assert dropped.reason == "touchpoint not in the journey map"
    assert dropped.rows + len(out) == 10_000 and dropped.rows > 0
    assert not out["path"].str.contains(r"\bmi\b").any()
    err = error_of(load_paths, shared_file(DATA_CSV), rules=Rules(touchpoints=known))
    assert err.column == "path" and "touchpoint 'mi' not in the journey map" in str(err)


# ---------------------------------------------------------------- rules of the table


def test_equal_timestamps_keep_file_order(tmp_path):
    body = ("b,2024-01-01 10:00:00,web,\n"
            "a,2024-01-01 09:00:00,web,\n"
            "a,2024-01-01 10:00:00,store,\n"   # three events of case a share 10:00
            "a,2024-01-01 10:00:00,app,\n"
            "b,2024-01-01 10:00:00,call,\n"
            "a,2024-01-01 10:00:00,call,\n")
    log = load_events(events_csv(tmp_path, body))["events"]
    frame = log.to_pandas()
    assert frame["touchpoint"].tolist() == ["web", "store", "app", "call", "web", "call"]
    assert frame["seq"].tolist() == [1, 2, 3, 5, 0, 4]
    assert frame["channel"].isna().all()


def test_time_zone_offsets_are_converted_to_utc(tmp_path):
    body = ("1,2024-03-30 12:00:00+01:00,web,online\n"
            "1,2024-03-31T12:00:00.000+02:00,app,online\n"
            "1,2024-04-01T10:00:00Z,store,offline\n"
            "1,2024-04-02 10:00,call,phone\n")
    stamps = load_events(events_csv(tmp_path, body))["events"].to_pandas()["timestamp"]
    assert [str(t) for t in stamps] == ["2024-03-30 11:00:00", "2024-03-31 10:00:00",
                                        "2024-04-01 10:00:00", "2024-04-02 10:00:00"]


def test_ids_stay_strings_and_parquet_matches_csv(tmp_path):
    body = "000123,2024-01-01 10:00,web,online\n007,2024-01-01 11:00,store,offline\n"
    csv_log = load_events(events_csv(tmp_path, body))["events"]
    frame = csv_log.to_pandas()
    assert frame["case_id"].tolist() == ["000123", "007"]
    parquet = tmp_path / "events.parquet"
    raw = pd.DataFrame({"case_id": [123, 7], "timestamp": pd.to_datetime(
        ["2024-01-01 10:00", "2024-01-01 11:00"]), "touchpoint": ["web", "store"],
        "channel": ["online", "offline"], "score": [1.5, 2.0]})
    raw.to_parquet(parquet)
    log = load_events(parquet, rules=MAP)["events"]
    out = log.to_pandas()
    assert out["case_id"].tolist() == ["123", "7"] and out["score"].tolist() == [1.5, 2.0]
    pd.testing.assert_series_equal(out["timestamp"], frame["timestamp"])


def test_column_mapping_and_timestamp_format(tmp_path):
    path = write(tmp_path / "log.csv", "Kunde;Zeit;Kontakt;Kanal\n"
                 "k1;30/12/2023 14:05;web;online\nk1;31/12/2023 09:00;store;offline\n")
    log = load_events(path, case_id="Kunde", timestamp="Zeit", touchpoint="Kontakt",
                      channel="Kanal", timestamp_format="%d/%m/%Y %H:%M")["events"]
    frame = log.to_pandas()
    assert frame["channel"].tolist() == ["online", "offline"]
    assert str(frame["timestamp"].iloc[0]) == "2023-12-30 14:05:00"


def test_windows_encoding_is_transcoded(tmp_path):
    path = events_csv(tmp_path, "1,2024-01-01 10:00,café,online\n", encoding="cp1252")
    log = load_events(path, encoding="cp1252")["events"]
    assert log.to_pandas()["touchpoint"].tolist() == ["café"]


def test_event_log_queries(tmp_path):
    body = ("1,2024-01-01 10:00,web,online\n1,2024-01-01 11:00,store,offline\n"
            "2,2024-01-02 10:00,web,online\n3,2024-01-03 10:00,web,online\n")
    log = load_events(events_csv(tmp_path, body), rules=MAP)["events"]
    assert (log.count(), len(log), log.cases()) == (4, 4, 3)
    assert log.touchpoints().to_dict("list") == {"touchpoint": ["web", "store"],
                                                 "events": [3, 1], "cases": [3, 1]}
    assert log.to_pandas(["case_id"], where="touchpoint = 'web'")["case_id"].tolist() == [
        "1", "2", "3"]
    assert log.sql("SELECT max(seq) AS m FROM events")["m"].iloc[0] == 3
    part = log.subset(["1", "3"])
    assert (part.count(), part.cases()) == (3, 2)
    inner = part.subset(["3"]).relation
    del part
    gc.collect()
    assert len(inner.fetchall()) == 1  # a relation outlives the log it came from
    assert isinstance(log.relation, duckdb.DuckDBPyRelation)
    assert log.con.execute("SELECT current_setting('threads')").fetchall()[0][0] >= 1


def test_lifecycle_filter_counts_the_rest(tmp_path):
    event = ('<event><string key="concept:name" value="{a}"/><string key="lifecycle:transition"'
             ' value="{s}"/><date key="time:timestamp" value="2024-01-01T10:0{m}:00+01:00"/>'
             '</event>')
    trace = ('<trace><string key="concept:name" value="c1"/>'
             + event.format(a="web", s="start", m=0) + event.format(a="web", s="complete", m=1)
             + event.format(a="store", s="start", m=2) + event.format(a="store", s="COMPLETE", m=3)
             + "</trace><trace><string key='concept:name' value='empty'/></trace>")
    path = write(tmp_path / "life.xes", f'<?xml version="1.0"?><log xmlns="http://www.xes-standard'
                 f'.org/">{trace}</log>')
    report = ValidationReport()
    log = load_xes(path, report=report)["events"]
    assert log.to_pandas()["touchpoint"].tolist() == ["web", "store"]
    assert any("2 events with lifecycle:transition other than 'complete'" in n
               for n in report.notes)
    assert any("1 traces without events" in n for n in report.notes)
    assert load_xes(path, lifecycle=None)["events"].count() == 4


def test_events_csv_in_a_study_folder(tmp_path):
    from cxresearch.study import load_study

    events_csv(tmp_path, "1,2024-01-01 10:00,web,online\n2,2024-01-01 11:00,store,\n")
    study = load_study(tmp_path)
    assert study.event_log.count() == 2 and study.report.counts["events"] == 2
    assert study.events["case_id"].tolist() == ["1", "2"]
    assert loader("events") is load_events and loader("xes") is load_xes


# ---------------------------------------------------------------- malformed input


def test_missing_case_id_column(tmp_path):
    path = write(tmp_path / "e.csv", "customer,timestamp,touchpoint\n1,2024-01-01,web\n")
    err = error_of(load_events, path)
    assert (err.file, err.row, err.column) == (str(path), 1, "case_id")
    assert "missing required column" in str(err) and "customer" in str(err)


def test_unparseable_timestamp(tmp_path):
    path = events_csv(tmp_path, "1,2024-01-01 10:00,web,\n1,yesterday,store,\n")
    err = error_of(load_events, path)
    assert (err.file, err.row, err.column) == (str(path), 3, "timestamp")
    assert "unparseable timestamp 'yesterday'" in str(err)


def test_empty_case_id(tmp_path):
    path = events_csv(tmp_path, "1,2024-01-01 10:00,web,\n  ,2024-01-01 11:00,store,\n")
    err = error_of(load_events, path)
    assert (err.file, err.row, err.column) == (str(path), 3, "case_id")
    assert "empty case id" in str(err)


def test_unknown_touchpoint_with_a_journey_map(tmp_path):
    path = events_csv(tmp_path, "1,2024-01-01 10:00,web,\n1,2024-01-01 11:00,kiosk,\n")
    err = error_of(load_events, path, rules=MAP)
    assert (err.file, err.row, err.column) == (str(path), 3, "touchpoint")
    assert "'kiosk' not in the journey map" in str(err)
    report = ValidationReport()
    load_events(path, report=report)  # no map: loaded, and the report says names were unchecked
    assert any("no journey map given" in n for n in report.notes)


def test_errors_name_the_source_column_of_a_mapped_log(tmp_path):
    path = write(tmp_path / "pm.csv", "case:concept:name,concept:name,time:timestamp\n"
                 "1,register,2010-12-30 14:32:00+01:00\n1,,2010-12-30 15:00:00+01:00\n")
    err = error_of(load_events, path, **PM4PY_CSV)
    assert (err.row, err.column, err.problems[0].message) == (3, "concept:name",
                                                              "empty touchpoint")


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path, text):
    path = write(tmp_path / "e.csv", text)
    err = error_of(load_events, path)
    assert err.file == str(path) and "empty" in str(err)


def test_header_only_file(tmp_path):
    path = events_csv(tmp_path, "")
    assert "no events" in str(error_of(load_events, path))


def test_wrong_encoding(tmp_path):
    path = events_csv(tmp_path, "1,2024-01-01 10:00,web,\n2,2024-01-01 11:00,café,\n",
                      encoding="latin-1")
    err = error_of(load_events, path)
    assert (err.file, err.row, err.column) == (str(path), 3, "touchpoint")
    assert "cannot decode as utf-8" in str(err) and "encoding=" in str(err)


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 64)
    err = error_of(load_events, path)
    assert err.file == str(path) and "not a readable Parquet file" in str(err)


def test_ragged_row(tmp_path):
    path = events_csv(tmp_path, "1,2024-01-01 10:00,web,\n2,2024-01-01 11:00,store,x,y\n")
    err = error_of(load_events, path)
    assert (err.file, err.row) == (str(path), 3) and "5 fields where the header has 4" in str(err)


def test_xes_with_external_entity_is_refused(tmp_path):
    path = write(tmp_path / "evil.xes", '<?xml version="1.0"?>\n<!DOCTYPE log [\n'
                 '<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n<log><trace>'
                 '<string key="concept:name" value="&secret;"/></trace></log>')
    err = error_of(load_xes, path)
    assert (err.file, err.row) == (str(path), "DOCTYPE")
    assert "entity 'secret'" in str(err) and "file:///etc/passwd" in str(err)


def test_xes_with_entity_expansion_is_refused(tmp_path):
    path = write(tmp_path / "laughs.xes", '<?xml version="1.0"?><!DOCTYPE log [<!ENTITY a "ha">'
                 '<!ENTITY b "&a;&a;&a;&a;">]><log>&b;</log>')
    assert "refused for safety" in str(error_of(load_xes, path))


def test_xes_that_is_not_xml(tmp_path):
    path = write(tmp_path / "log.xes", "case_id,timestamp,touchpoint\n1,2024-01-01,web\n")
    err = error_of(load_xes, path)
    assert err.file == str(path) and err.row == "line 1, char 0"
    assert "not well-formed XML" in str(err)


def test_xes_with_unclosed_element(tmp_path):
    path = write(tmp_path / "log.xes", '<log>\n<trace>\n<event>\n</trace>\n</log>')
    err = error_of(load_xes, path)
    assert err.row == "line 4, char 2" and "mismatched tag" in str(err)


def test_truncated_gzip(tmp_path):
    data = shared_file(f"{PM4PY}/helpdesk.xes.gz").read_bytes()
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(data[: len(data) // 2])
    err = error_of(load_xes, path)
    assert err.file == str(path) and "truncated" in str(err)
    assert err.row.startswith("trace ") and 1000 < int(err.row.split()[1]) < 4580


def test_gzip_is_detected_by_content_not_name(tmp_path):
    path = tmp_path / "renamed.xes"
    path.write_bytes(gzip.compress(shared_file(f"{PM4PY}/running-example.xes").read_bytes()))
    assert load_xes(path)["events"].count() == 42


def test_xes_bad_timestamp_names_trace_and_event(tmp_path):
    path = write(tmp_path / "log.xes", '<log><trace><string key="concept:name" value="c"/>'
                 '<event><string key="concept:name" value="web"/>'
                 '<date key="time:timestamp" value="2024-01-01T10:00:00"/></event>'
                 '<event><string key="concept:name" value="store"/>'
                 '<date key="time:timestamp" value="soon"/></event></trace></log>')
    err = error_of(load_xes, path)
    assert (err.file, err.row, err.column) == (str(path), "trace 1, event 2", "time:timestamp")


def test_xes_without_the_touchpoint_attribute(tmp_path):
    path = write(tmp_path / "log.xes", '<log><trace><string key="concept:name" value="c"/>'
                 '<event><date key="time:timestamp" value="2024-01-01T10:00:00"/></event>'
                 '</trace></log>')
    err = error_of(load_xes, path)
    assert err.column == "concept:name" and "missing required attribute" in str(err)


def paths_csv(tmp_path: Path, body: str) -> Path:
    return write(tmp_path / "paths.csv",
                 "path;total_conversions;total_conversion_value;total_null\n" + body)


def test_paths_negative_count(tmp_path):
    path = paths_csv(tmp_path, "a > b;1;2.5;3\na > c;-2;0;4\n")
    err = error_of(load_paths, path)
    assert (err.file, err.row, err.column) == (str(path), 3, "total_conversions")
    assert "negative count" in str(err)


def test_exclusions_without_a_report_warn_at_the_callers_line(tmp_path):
    path = paths_csv(tmp_path, "a > b;1;2.5;3\na > c;-2;0;4\n")
    with pytest.warns(UserWarning, match="1 paths rows excluded") as caught:
        out = load_paths(path, on_error="exclude")["paths"]
    assert len(out) == 1
    assert [w.filename for w in caught] == [__file__]
    report = ValidationReport()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a report collects them: no warning
        load_paths(path, on_error="exclude", report=report)
    assert report.excluded_rows == 1


def test_paths_empty_path_and_empty_step(tmp_path):
    path = paths_csv(tmp_path, "a>b;1;2.5;3\n;1;0;4\na >  > c;0;0;1\n")
    err = error_of(load_paths, path)
    assert [(p.row, p.column) for p in err.problems] == [(3, "path"), (4, "path")]
    assert "empty path" in str(err) and "empty step" in str(err)


def test_paths_not_a_number_names_the_source_column(tmp_path):
    path = paths_csv(tmp_path, "a;1;2.5;3\nb;1;0;many\n")
    err = error_of(load_paths, path)
    assert (err.row, err.column) == (3, "total_null") and "not a number" in str(err)


def test_paths_separator_is_normalised(tmp_path):
    path = paths_csv(tmp_path, "web>app> store;1;2.5;3\n")
    assert load_paths(path)["paths"]["path"].tolist() == ["web > app > store"]
    other = write(tmp_path / "p.csv", "journey,conv,lost\nweb|store,2,5\n")
    out = load_paths(other, path_column="journey", conversions="conv", nulls="lost",
                     value=None, separator="|")["paths"]
    assert out[["path", "conversions", "nulls"]].values.tolist() == [["web > store", 2, 5]]


# ---------------------------------------------------------------- exclude and count


def test_exclude_counts_every_dropped_row_by_reason(tmp_path):
    body = ("1,2024-01-01 10:00,web,\n"      # row 2 ok
            ",2024-01-01 10:00,web,\n"       # row 3 empty case id
            "2,,web,\n"                      # row 4 empty timestamp
            "2,31/12/2023,web,\n"            # row 5 unparseable timestamp
            "3,2024-01-01 10:00,,\n"         # row 6 empty touchpoint
            "3,2024-01-01 11:00,kiosk,\n"    # row 7 unknown touchpoint
            ",never,kiosk,\n"                # row 8 three problems, counted once
            "4,2024-01-02,store,offline\n")  # row 9 ok
    report = ValidationReport()
    log = load_events(events_csv(tmp_path, body), rules=MAP, on_error="exclude",
                      report=report)["events"]
    assert log.to_pandas()["seq"].tolist() == [0, 7]
    assert report.counts["events"] == 2
    by_reason = {e.reason: e.rows for e in report.exclusions}
    assert by_reason == {"empty case id": 2, "empty timestamp": 1, "unparseable timestamp": 1,
                         "empty touchpoint": 1, "touchpoint not in the journey map": 1}
    assert report.excluded_rows == 6
    assert sorted({p.row for p in report.excluded}) == [3, 4, 5, 6, 7, 8]
    assert [(p.column) for p in report.excluded if p.row == 8] == ["case_id", "timestamp",
                                                                   "touchpoint"]


def test_many_bad_rows_are_all_counted_but_listed_up_to_a_limit(tmp_path):
    n_bad = MAX_LISTED_ROWS + 500
    body = "".join(f"{i},not a date,web,\n" for i in range(n_bad)) + "x,2024-01-01,web,\n"
    path = events_csv(tmp_path, body)
    err = error_of(load_events, path)
    assert len(err.problems) == MAX_LISTED_ROWS + 1
    assert f"{n_bad:,} in all" in err.problems[-1].message
    report = ValidationReport()
    load_events(path, on_error="exclude", report=report)
    assert report.excluded_rows == n_bad and report.counts["events"] == 1


def test_exclude_in_xes_and_paths(tmp_path):
    xes = write(tmp_path / "log.xes", '<log><trace><event><string key="concept:name" value="web"/>'
                '<date key="time:timestamp" value="2024-01-01T10:00:00"/></event></trace>'
                '<trace><string key="concept:name" value="c2"/><event>'
                '<string key="concept:name" value="web"/>'
                '<date key="time:timestamp" value="2024-01-01T10:00:00"/></event></trace></log>')
    report = ValidationReport()
    log = load_xes(xes, on_error="exclude", report=report)["events"]
    assert log.to_pandas()["case_id"].tolist() == ["c2"]
    assert report.exclusions[0].reason == "empty case id" and report.excluded_rows == 1
    assert report.excluded[0].row == "trace 1, event 1"
    paths = paths_csv(tmp_path, "a;1;2.5;3\n;1;0;4\nb;-1;0;1\nc;1;0;x\nd;0;0;1\n")
    report = ValidationReport()
    out = load_paths(paths, on_error="exclude", report=report)["paths"]
    assert out["path"].tolist() == ["a", "d"] and report.counts["paths"] == 2
    assert report.excluded_rows == 3
    assert {p.column for p in report.excluded} == {"path", "total_conversions", "total_null"}


# ---------------------------------------------------------------- scale


@pytest.mark.slow
def test_a_million_rows_load_and_aggregate_in_duckdb(tmp_path):
    n = 1_000_000
    path = tmp_path / "big.csv"
    duckdb.sql(f"""COPY (SELECT 'C' || lpad(CAST(i // 10 AS VARCHAR), 7, '0') AS case_id,
        TIMESTAMP '2024-01-01' + to_seconds(i) AS timestamp,
        ['web', 'app', 'store', 'call'][1 + (i % 4)::INT] AS touchpoint, 'online' AS channel
        FROM range({n}) t(i)) TO '{path}' (HEADER)""")
    report = ValidationReport()
    log = load_events(path, rules=MAP, report=report)["events"]
    assert (log.count(), log.cases(), report.counts["events"]) == (n, n // 10, n)
    assert log.touchpoints()["events"].tolist() == [n // 4] * 4
    assert log.sql("SELECT min(case_id) AS a, max(seq) AS b FROM events").values.tolist() == [
        ["C0000000", n - 1]]
