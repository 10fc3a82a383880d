import pandas as pd
import pytest

from cxresearch.errors import InputError
from cxresearch.schema import Rules, ValidationReport, conform, empty, period_order

RULES = Rules(scales={"valence": (1, 5)}, touchpoints=frozenset({"web", "store"}))


def ratings(**cols):
    base = {"respondent_id": ["1", "2"], "touchpoint": ["web", "store"], "value": ["3", "4"]}
    base.update(cols)
    return pd.DataFrame(base, index=pd.RangeIndex(2, 4))


def test_conform_gives_contract_dtypes_and_scale_from_rules():
    out = conform("ratings", ratings(), "r.csv", rules=RULES)
    assert out["value"].dtype == "Int64"
    assert out["respondent_id"].tolist() == ["1", "2"]
    assert out["item"].tolist() == ["valence", "valence"]
    assert out[["scale_min", "scale_max"]].iloc[0].tolist() == [1, 5]


def test_ids_with_leading_zeros_stay_strings():
    out = conform("ratings", ratings(respondent_id=["000123", "007"]), "r.csv", rules=RULES)
    assert out["respondent_id"].tolist() == ["000123", "007"]


@pytest.mark.parametrize(("cols", "row", "column", "words"), [
    ({"value": ["3", "9"]}, 3, "value", "outside its scale"),
    ({"value": ["3", "x"]}, 3, "value", "not a number"),
    ({"value": ["3", "2.5"]}, 3, "value", "not a whole number"),
    ({"respondent_id": ["1", " "]}, 3, "respondent_id", "empty value"),
    ({"touchpoint": ["web", "moon"]}, 3, "touchpoint", "not in the journey map"),
    ({"respondent_id": ["1", "1"], "touchpoint": ["web", "web"]}, 3, "item", "duplicate"),
    ({"answered_at": ["2026-01-01", "yesterday-ish"]}, 3, "answered_at", "unparseable timestamp"),
])
def test_bad_rows_name_file_row_and_column(cols, row, column, words):
    with pytest.raises(InputError) as err:
        conform("ratings", ratings(**cols), "r.csv", rules=RULES)
    assert err.value.file == "r.csv" and err.value.row == row and err.value.column == column
    assert words in str(err.value) and "r.csv, row 3" in str(err.value)


def test_missing_column_names_it():
    with pytest.raises(InputError, match="column 'touchpoint'.*missing required column"):
        conform("ratings", ratings().drop(columns="touchpoint"), "r.csv", rules=RULES)


def test_exclude_counts_every_dropped_row_by_reason():
    report = ValidationReport()
    df = ratings(value=["9", "x"])
    out = conform("ratings", df, "r.csv", rules=RULES, on_error="exclude", report=report)
    assert out.empty
    assert report.excluded_rows == 2
    assert {e.reason for e in report.exclusions} == {"rating outside its scale",
                                                     "not a number: expected an integer"}
    assert len(report.excluded) == 2 and report.ok


def test_exclude_without_a_report_warns_of_what_it_drops():
    with pytest.warns(UserWarning, match=r"r.csv: 1 ratings rows excluded \(rating outside"):
        out = conform("ratings", ratings(value=["9", "3"]), "r.csv", rules=RULES,
                      on_error="exclude")
    assert len(out) == 1


def test_duplicates_are_judged_among_valid_rows_only():
    df = ratings(respondent_id=["1", "1"], touchpoint=["web", "web"], value=["9", "4"])
    report = ValidationReport()
    out = conform("ratings", df, "r.csv", rules=RULES, on_error="exclude", report=report)
    assert out["value"].tolist() == [4]


def test_nps_outside_0_10_is_an_error():
    df = pd.DataFrame({"respondent_id": ["1"], "outcome": ["nps"], "value": ["11"]})
    with pytest.raises(InputError, match="NPS"):
        conform("outcomes", df, "o.csv")


def test_empty_table_has_contract_columns():
    assert list(empty("codes").columns) == ["code", "parent", "description"]


def test_whole_float_ids_read_as_integers_not_with_a_decimal_point():
    df = ratings(respondent_id=[1.0, 2.0])  # as Parquet or Excel write a column with a blank
    assert conform("ratings", df, "r.parquet", rules=RULES)["respondent_id"].tolist() == ["1", "2"]


def test_periods_in_time_order_with_numbers_compared_as_numbers():
    assert period_order(["W10", "W2", None, "W1", "W2"]) == ["W1", "W2", "W10"]
    assert period_order(["2025-H2", "2024-H2", "2025-H1"]) == ["2024-H2", "2025-H1", "2025-H2"]
