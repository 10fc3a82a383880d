"""Mixed methods: linking codings, code statistics, the joint display (no model fit here)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import shared_file, write

import cxresearch as cx
from cxresearch import mixed
from cxresearch.plots import codes as code_plots

NVIVO_MAC = ("qda/babargcu__Seeding-QDArchive/"
             "1 - Constructive turn - Nvivo project file (Mac).qdpx")
QC = "qda/cproctor__qualitative-coding/demo.qdpx"


def report_counts(linked: mixed.Linked) -> dict[str, int]:
    rep = linked.report()
    return {(r.reason or r.status): int(r.codings) for r in rep.itertuples()}


@pytest.fixture(scope="module")
def tiny(tiny_study_dir):
    return cx.load_study(tiny_study_dir)


def test_synthetic_codings_all_link(tiny):
    linked = mixed.link_codings(tiny)
    counts = report_counts(linked)
    assert counts["linked"] == counts["total"] == len(tiny.codings) > 100
    assert all(counts[r] == 0 for r in mixed.REASONS)
    assert (linked.codings["touchpoint_from"] == "coding").all()
    assert f"linked {len(tiny.codings):,}" in str(linked)


def _edited_study(tiny_study_dir, tmp_path, extra_rows: str, config: dict):
    folder = tmp_path / "study"
    shutil.copytree(tiny_study_dir, folder)
    codings = folder / "codings.csv"
    text = codings.read_text().rstrip("\n").splitlines()
    header = text[0] + ",source"
    body = [line + "," for line in text[1:]]
    write(codings, "\n".join([header, *body, *extra_rows.strip().splitlines()]) + "\n")
    study_yml = yaml.safe_load((folder / "study.yml").read_text()) | config
    write(folder / "study.yml", yaml.safe_dump(study_yml))
    return cx.load_study(folder), len(body)


def test_linking_report_counts_every_reason(tiny_study_dir, tmp_path):
    extra = """
,delivery,late_delivery,no one to link this to,
,delivery,late_delivery,from an interview transcript,interview_7.txt
R999999,delivery,late_delivery,a stranger,
R000001,,late_delivery,mapped through the parent delivery_issues,
R000001,,friendly_staff,staff is not mapped,
R000001,,long_wait,waiting maps to a touchpoint missing from the journey map,
,,friendly_staff,no respondent and no touchpoint,
"""
    config = {"code_touchpoints": {"delivery_issues": "delivery", "waiting": "hold_line"},
              "source_respondents": {"interview_7.txt": "R000002"}}
    study, n_synthetic = _edited_study(tiny_study_dir, tmp_path, extra, config)
    linked = mixed.link_codings(study)
    counts = report_counts(linked)
    assert counts == {"linked": n_synthetic + 2, mixed.NO_RESPONDENT: 2,
                      mixed.UNKNOWN_RESPONDENT: 1, mixed.NO_TOUCHPOINT: 1,
                      mixed.UNKNOWN_TOUCHPOINT: 1, "total": n_synthetic + 7}
    rep = linked.report().set_index("reason")
    # the last row has two problems: counted once (first reason), flagged under both
    assert rep.loc[mixed.NO_TOUCHPOINT, "with_problem"] == 2
    assert rep.loc[mixed.NO_RESPONDENT, "with_problem"] == 2
    rows = linked.codings.iloc[n_synthetic:]
    assert pd.isna(rows["respondent_id"].iloc[0]) and rows["respondent_id"].iloc[1] == "R000002"
    hier = rows.iloc[3]
    assert (hier["touchpoint"], hier["touchpoint_from"], pd.isna(hier["reason"])) == (
        "delivery", "code_touchpoints", True)
    assert rows.iloc[5]["touchpoint"] == "hold_line"
    assert len(linked.linked) + len(linked.unlinked) == len(study.codings)
    assert set(linked.unlinked["reason"]) == set(mixed.REASONS)
    assert any("source_respondents" in n for n in linked.notes)
    # an explicit mapping overrides study.yml
    assert mixed.link_codings(study, code_touchpoints={}).linked.shape[0] == n_synthetic + 1


def test_code_mapping_unknown_keys_are_reported(tiny):
    linked = mixed.link_codings(tiny, code_touchpoints={"no_such_code": "delivery"})
    assert any("no_such_code" in n for n in linked.notes)


def test_real_nvivo_project_keeps_hierarchy_and_counts(tmp_path):
    path = shared_file(NVIVO_MAC)
    folder = tmp_path / "nvivo"
    write(folder / "study.yml", yaml.safe_dump({
        "sources": [{"file": str(path), "format": "refi-qda"}],
        "code_touchpoints": {"Discouraged elements": "rules",
                             "Encouraged elements": "community",
                             "Discussion environment": "forum"}}))
    write(folder / "touchpoints.csv", "touchpoint,stage,stage_order\nrules,policy,1\n"
          "community,policy,1\n")
    study = cx.load_study(folder)  # the registry reads the project named in study.yml
    assert len(study.codings) == 777 and len(study.codes) == 172
    people = sorted(study.codings["respondent_id"].unique())
    assert len(people) == 47
    known = people[:30]
    pd.DataFrame({"respondent_id": known}).to_csv(folder / "respondents.csv", index=False)
    study = cx.load_study(folder)
    linked = mixed.link_codings(study)
    counts = report_counts(linked)
    assert counts["total"] == 777 == sum(counts[r] for r in ("linked", *mixed.REASONS))
    assert counts[mixed.NO_RESPONDENT] == 0
    unknown = int((~study.codings["respondent_id"].isin(known)).sum())
    assert counts[mixed.UNKNOWN_RESPONDENT] == unknown > 0
    # codes below the mapped roots inherit their touchpoint, however deep
    codes = study.codes.set_index("code")
    root = {c: p.split("/")[0] for c, p in codes["path"].items()}
    found = linked.codings.assign(root=linked.codings["code"].map(root))
    expect = {"Discouraged elements": "rules", "Encouraged elements": "community",
              "Discussion environment": "forum"}
    for top, tp in expect.items():
        sel = found[found["root"] == top]
        assert len(sel) and (sel["touchpoint"] == tp).all()
        assert (codes.loc[sel["code"], "path"].str.count("/") >= 1).any()
    known_resp = found["respondent_id"].isin(known)
    forum = found["root"] == "Discussion environment"
    assert counts[mixed.UNKNOWN_TOUCHPOINT] == int((known_resp & forum).sum()) > 0
    unmapped = ~found["root"].isin(list(expect))
    assert counts[mixed.NO_TOUCHPOINT] == int((known_resp & unmapped).sum()) > 0
    assert counts["linked"] == int((known_resp & found["root"].isin(
        ["Discouraged elements", "Encouraged elements"])).sum())
    # every linked excerpt kept its text and code
    assert linked.linked["text"].notna().all()
    assert linked.linked["code"].isin(study.codes["code"]).all()


def test_real_qc_project_links_through_a_source_map(tmp_path):
    path = shared_file(QC)
    folder = tmp_path / "qc"
    write(folder / "study.yml", yaml.safe_dump({
        "sources": [{"file": str(path), "format": "refi-qda"}],
        "code_touchpoints": {"rq1_definition": "definition",
                             "rq2_curriculum_and_instruction": "curriculum"}}))
    write(folder / "touchpoints.csv", "touchpoint,stage,stage_order\ndefinition,research,1\n")
    write(folder / "respondents.csv", "respondent_id\nboard\n")
    study = cx.load_study(folder)
    assert len(study.codings) == 205
    counts = report_counts(mixed.link_codings(study))
    assert counts[mixed.NO_RESPONDENT] == 205  # qc projects have no cases
    linked = mixed.link_codings(study, source_respondents={"board_2017.txt": "board"})
    counts = report_counts(linked)
    # seven-level hierarchy: every code reaches its root's touchpoint
    assert counts == {"linked": 63, mixed.NO_RESPONDENT: 0, mixed.UNKNOWN_RESPONDENT: 0,
                      mixed.NO_TOUCHPOINT: 41, mixed.UNKNOWN_TOUCHPOINT: 101, "total": 205}
    assert study.codes["path"].str.count("/").max() == 6
    deep = linked.linked.merge(study.codes[["code", "path"]], on="code")
    assert deep["path"].str.count("/").max() >= 3


def test_study_without_respondents_or_journey_map_is_not_checked(tmp_path):
    path = shared_file(QC)
    write(tmp_path / "study.yml", yaml.safe_dump({
        "sources": [{"file": str(path), "format": "refi-qda"}],
        "source_respondents": {"board_2017.txt": "board"},
        "code_touchpoints": {"rq1_definition": "anything"}}))
    linked = mixed.link_codings(cx.load_study(tmp_path))
    counts = report_counts(linked)
    assert counts["linked"] == 63 and counts[mixed.NO_TOUCHPOINT] == 142
    assert any("no respondents table" in n for n in linked.notes)
    assert any("no journey map" in n for n in linked.notes)


# ---------------------------------------------------------------- statistics

def _small_study(tmp_path):
    """Four respondents, two touchpoints, hand-countable codes and ratings."""
    folder = tmp_path / "small"
    write(folder / "respondents.csv", "respondent_id,segment\nA,x\nB,x\nC,y\nD,y\n")
    write(folder / "touchpoints.csv", "touchpoint,stage,stage_order\nshop,buy,1\nhome,use,2\n")
    write(folder / "ratings.csv", "respondent_id,touchpoint,item,value,scale_min,scale_max\n"
          "A,shop,valence,6,1,7\nB,shop,valence,2,1,7\nC,shop,valence,7,1,7\n"
          "D,shop,valence,3,1,7\nA,home,valence,4,1,7\nB,home,valence,5,1,7\n")
    write(folder / "codes.csv", "code,parent\nstaff,\nfriendly,staff\nqueue,\n")
    write(folder / "codings.csv", "respondent_id,touchpoint,code,text\n"
          "A,shop,friendly,nice people\nA,shop,friendly,really nice\nC,shop,friendly,kind\n"
          "B,shop,queue,long queue\nA,home,queue,queue at home?\nD,,queue,no place\n")
    return cx.load_study(folder)


def test_code_mentions_counts_respondents_not_excerpts(tmp_path):
    study = _small_study(tmp_path)
    m = mixed.code_mentions(study).set_index(["code", "touchpoint"])
    assert m.loc[("friendly", "shop"), ["respondents", "codings"]].tolist() == [2, 3]
    assert m.loc[("friendly", "shop"), "at_touchpoint"] == 4
    assert m.loc[("friendly", "shop"), "share"] == 0.5
    assert m.loc[("queue", "home"), ["respondents", "at_touchpoint"]].tolist() == [1, 2]
    by = mixed.code_mentions(study, by="segment").set_index(["code", "touchpoint", "segment"])
    assert by.loc[("friendly", "shop", "x"), ["respondents", "at_touchpoint"]].tolist() == [1, 2]
    assert by.loc[("friendly", "shop", "y"), "share"] == 0.5
    with pytest.raises(ValueError, match="not a respondents column"):
        mixed.code_mentions(study, by="colour")


def test_code_mentions_by_segment_adds_up(tiny):
    whole = mixed.code_mentions(tiny)
    by = mixed.code_mentions(tiny, by="segment")
    summed = by.groupby(["code", "touchpoint"])[["respondents", "codings"]].sum()
    assert summed.equals(whole.set_index(["code", "touchpoint"])[["respondents", "codings"]]
                         .loc[summed.index])
    assert (whole["share"] <= 1).all() and (whole["share"] > 0).all()


def test_cooccurrence_jaccard_and_lift(tmp_path):
    study = _small_study(tmp_path)
    pairs = mixed.cooccurrence(study)
    row = pairs.set_index(["code_a", "code_b"]).loc[("friendly", "queue")]
    # friendly: A, C; queue: A, B, D (D has no touchpoint but a known respondent)
    assert (row["n_a"], row["n_b"], row["n_both"]) == (2, 3, 1)
    assert row["jaccard"] == pytest.approx(1 / 4)
    assert row["lift"] == pytest.approx(1 * 4 / (2 * 3))
    assert pairs.attrs["N"] == 4


def test_emotion_gap_is_the_difference_of_means_with_welch_interval(tmp_path, tiny):
    study = _small_study(tmp_path)
    gap = mixed.emotion_gap(study).set_index(["code", "touchpoint"])
    row = gap.loc[("friendly", "shop")]
    assert row["mean_mentioners"] == 6.5 and row["mean_others"] == 2.5
    assert row["difference"] == 4.0
    assert row["welch90_low"] < 4.0 < row["welch90_high"]
    assert "not causal" in mixed.emotion_gap(study).attrs["interval"]
    one = gap.loc[("queue", "home")]  # one mentioner: no interval
    assert one["n_mentioners"] == 1 and np.isnan(one["welch90_low"])
    big = mixed.emotion_gap(tiny).set_index(["code", "touchpoint"])
    r = tiny.ratings[(tiny.ratings["touchpoint"] == "delivery")]
    who = set(tiny.codings.query("code == 'late_delivery'")["respondent_id"])
    hand = r[r["respondent_id"].isin(who)]["value"].mean() - r[
        ~r["respondent_id"].isin(who)]["value"].mean()
    assert big.loc[("late_delivery", "delivery"), "difference"] == pytest.approx(hand)


# ---------------------------------------------------------------- joint display

def test_joint_display_quotes_reproducible_redacted_and_escaped(tiny_study_dir, tmp_path):
    hostile = '"<script>alert(1)</script> write to ana.perez@example.com or +34 600 123 456"'
    # the hostile excerpt is the only one of its code there: it must be quoted
    extra = f"R000001,delivery,mystery,{hostile},\n"
    study, _ = _edited_study(tiny_study_dir, tmp_path, extra, {})
    one = mixed.joint_display(study, quotes=2, seed=5)
    two = mixed.joint_display(study, quotes=2, seed=5)
    pd.testing.assert_frame_equal(one, two)
    other = mixed.joint_display(study, quotes=2, seed=6)
    assert not one[["quote_1", "quote_2"]].equals(other[["quote_1", "quote_2"]])
    row = one[one["code"] == "mystery"].iloc[0]
    assert "[email]" in row["quote_1"] and "[phone]" in row["quote_1"]
    assert "ana.perez@example.com" not in one.to_string()
    page = mixed.to_html(one, caption="Joint display")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    raw = mixed.joint_display(study, quotes=2, seed=5, redact=False)
    assert "ana.perez@example.com" in raw[raw["code"] == "mystery"].iloc[0]["quote_1"]
    full = mixed.code_mentions(study)
    assert len(one) == len(full)  # one row per code x touchpoint with mentions
    busy = one[one["respondents"] >= 5]
    assert busy["quote_2"].notna().all() and (busy["quote_1"] != busy["quote_2"]).all()


def test_joint_display_prefers_quotes_agreeing_with_the_sign(tmp_path):
    study = _small_study(tmp_path)
    folder = study.path
    write(folder / "codings.csv", "respondent_id,touchpoint,code,text\n"
          "A,shop,friendly,happy A\nB,shop,friendly,unhappy B\nC,shop,friendly,happy C\n"
          "D,shop,friendly,unhappy D\n")
    study = cx.load_study(folder)
    # everyone mentions it: no difference, no sign, any two quotes
    for seed in range(5):
        q = mixed.joint_display(study, quotes=2, seed=seed).iloc[0]
        assert {q["quote_1"], q["quote_2"]} <= {"happy A", "unhappy B", "happy C", "unhappy D"}
    write(folder / "codings.csv", "respondent_id,touchpoint,code,text\n"
          "A,shop,friendly,happy A\nC,shop,friendly,happy C\nB,shop,friendly,unhappy B\n")
    study = cx.load_study(folder)
    for seed in range(5):  # mentioners rate higher: the two above the mean come first
        q = mixed.joint_display(study, quotes=2, seed=seed).iloc[0]
        assert {q["quote_1"], q["quote_2"]} == {"happy A", "happy C"}


def test_heatmaps_draw(tiny):
    linked = mixed.link_codings(tiny)
    order = tiny.touchpoints.sort_values("stage_order")["touchpoint"].tolist()
    fig = code_plots.code_touchpoint_heatmap(mixed.code_mentions(linked), touchpoints=order)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        t for t in order if t in set(tiny.codings["touchpoint"])]
    fig2 = code_plots.cooccurrence_heatmap(mixed.cooccurrence(linked), top=8)
    assert len(fig2.axes[0].get_yticklabels()) == 8
    gap = mixed.emotion_gap(linked)
    fig3 = code_plots.code_touchpoint_heatmap(gap, value="difference", top=5)
    labels = [t.get_text() for t in fig3.axes[0].get_yticklabels()]
    assert labels == gap.assign(a=gap["difference"].abs()).nlargest(5, "a")["code"].tolist()
