"""The recorded paper-scale mode-coverage run: its shape, and the summaries and verdicts computed from it."""

import copy

import numpy as np
import pytest

from companion.experiments.symmetric_paper_record import (
    PAPER_RING_RECORD,
    paper_record_comparisons,
    paper_record_table,
    plot_paper_record,
)


def test_the_record_holds_ten_seeds_of_every_model_at_every_step_within_range():
    curves = PAPER_RING_RECORD["curves"]
    assert set(curves) == {"gan", "bgan", "mbgan"}
    assert max(curves["gan"]) == PAPER_RING_RECORD["n_steps"] == 20000
    for curve in curves.values():
        for values in curve.values():
            assert len(values["modes"]) == len(values["high_quality_pct"]) == 10
            assert all(0 <= m <= 8 for m in values["modes"])
            assert all(0.0 <= q <= 100.0 for q in values["high_quality_pct"])


def test_the_table_shows_each_steps_means_and_pacgans_gan():
    table = paper_record_table()
    final = table[(table.step == 20000) & (table.model == "GAN")].iloc[0]
    modes = PAPER_RING_RECORD["curves"]["gan"][20000]["modes"]
    assert final["modes"].startswith(f"{np.mean(modes):.2f}")
    assert final["seeds"] == 10
    assert "GAN (PacGAN, Table 3)" in set(table.model)
    assert table[table.model == "GAN (PacGAN, Table 3)"].iloc[0]["modes"] == "6.3"


def test_comparisons_cover_every_common_step_and_read_their_verdict_from_the_interval():
    rows = paper_record_comparisons()
    steps = sorted({r["step"] for r in rows})
    assert steps == [1000, 2000, 5000, 10000, 15000]  # the GAN's step 20,000 has no batch GAN beside it
    assert len(rows) == len(steps) * 2 * 2
    for row in rows:
        assert row["low"] <= row["difference"] <= row["high"]
        if row["low"] > 0:
            assert row["verdict"] == "holds"
        elif row["high"] < 0:
            assert row["verdict"] == "does not hold"
        else:
            assert row["verdict"] == "cannot tell at this budget"
    early = {(r["method"], r["quantity"]): r for r in paper_record_comparisons(steps=[2000])}
    # BGAN covered 2-3 modes at step 2,000 and the GAN 7-8 in every seed: the interval is far below zero
    assert early[("bgan", "modes")]["verdict"] == "does not hold"


def test_a_record_where_the_batch_gan_is_clearly_better_gets_holds():
    record = {"dataset": "ring", "curves": {
        "gan": {100: {"modes": [3, 4, 3, 4, 3], "high_quality_pct": [10.0] * 5}},
        "mbgan": {100: {"modes": [8, 8, 7, 8, 8], "high_quality_pct": [50.0, 51.0, 49.0, 50.0, 52.0]}}}}
    rows = {r["quantity"]: r for r in paper_record_comparisons(record)}
    assert rows["modes"]["verdict"] == "holds"
    assert rows["modes"]["difference"] == pytest.approx(np.mean([8, 8, 7, 8, 8]) - np.mean([3, 4, 3, 4, 3]))
    assert rows["high_quality_pct"]["verdict"] == "holds"


def test_bad_records_and_steps_get_clear_errors():
    with pytest.raises(TypeError, match="curves"):
        paper_record_comparisons({"dataset": "ring"})
    no_gan = copy.deepcopy(PAPER_RING_RECORD)
    del no_gan["curves"]["gan"]
    with pytest.raises(ValueError, match="GAN"):
        paper_record_comparisons(no_gan)
    unknown = copy.deepcopy(PAPER_RING_RECORD)
    unknown["curves"]["wgan"] = unknown["curves"]["bgan"]
    with pytest.raises(ValueError, match="unknown method"):
        paper_record_table(unknown)
    short = copy.deepcopy(PAPER_RING_RECORD)
    short["curves"]["bgan"][1000]["high_quality_pct"] = [1.0]
    with pytest.raises(ValueError, match="one length"):
        paper_record_comparisons(short)
    with pytest.raises(ValueError, match="not evaluated for every method"):
        paper_record_comparisons(steps=[20000])


def test_the_figure_draws_both_panels():
    fig = plot_paper_record()
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) >= 3
