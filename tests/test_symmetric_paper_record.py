"""The recorded paper-scale mode-coverage run: its shape, and the summaries and verdicts computed from it."""

import copy

import numpy as np
import pytest

from companion.experiments.symmetric_paper_record import (
    PAPER_GAN_BARS,
    PAPER_GRID_RECORD,
    PAPER_RING_CPU_RECORD,
    PAPER_RING_RECORD,
    PAPER_RING_THESIS_CPU_RECORD,
    evaluations_compared_phrase,
    gan_bar_met_from,
    gan_bar_phrase,
    last_comparison_phrase,
    models_compared_phrase,
    paper_record_comparisons,
    paper_record_table,
    plot_paper_record,
    run_rates,
    thesis_figure_reading,
    verdicts_along,
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


def _gan_record(dataset, means_by_step):
    """A record whose GAN covers ``mean`` modes in each of two seeds (mean - 1 and mean + 1) at each step."""
    gan = {step: {"modes": [mean - 1, mean + 1], "high_quality_pct": [50.0, 50.0]}
           for step, mean in means_by_step.items()}
    return {"dataset": dataset, "curves": {"gan": gan}}


def test_the_bar_is_met_from_the_first_step_after_which_the_mean_never_falls_below_it():
    assert PAPER_GAN_BARS == {"ring": 6.0, "grid": 17.0}
    assert gan_bar_met_from(_gan_record("ring", {1000: 5, 2000: 7, 5000: 5, 10000: 6, 20000: 7})) == 10000
    assert gan_bar_met_from(_gan_record("ring", {1000: 7, 2000: 7})) == 1000
    assert gan_bar_met_from(_gan_record("ring", {1000: 7, 2000: 5})) is None
    # the same means are far below the grid's bar of 17
    assert gan_bar_met_from(_gan_record("grid", {1000: 7, 2000: 7})) is None
    assert gan_bar_met_from(_gan_record("grid", {1000: 16, 2000: 18, 5000: 17})) == 2000
    assert gan_bar_met_from() == 1000  # the H200 run: 6.0 modes on average at step 1,000 already


def test_a_grid_record_is_drawn_against_its_25_modes_and_its_own_bar():
    record = _gan_record("grid", {1000: 9, 5000: 14})
    fig = plot_paper_record(record)
    assert "of 25" in fig.axes[0].get_ylabel()
    assert any(list(line.get_ydata()) == [17.0, 17.0] for line in fig.axes[0].lines)
    table = paper_record_table(record)
    assert table[table.model == "GAN (PacGAN, Table 3)"].iloc[0]["modes"] == "17.3"
    with pytest.raises(ValueError, match="dataset"):
        paper_record_table(_gan_record("bars", {1000: 3}))


def test_a_run_cut_short_is_compared_with_the_gan_up_to_its_last_evaluation():
    record = copy.deepcopy(PAPER_RING_RECORD)
    for step in (10000, 15000):
        del record["curves"]["bgan"][step]
    rows = paper_record_comparisons(record)
    assert sorted({r["step"] for r in rows if r["method"] == "bgan"}) == [1000, 2000, 5000]
    assert sorted({r["step"] for r in rows if r["method"] == "mbgan"}) == [1000, 2000, 5000, 10000, 15000]
    with pytest.raises(ValueError, match="not evaluated for every method"):
        paper_record_comparisons(record, steps=[10000])


@pytest.mark.parametrize("record, methods, n_modes", [
    (PAPER_GRID_RECORD, {"gan", "bgan", "mbgan", "mixup"}, 25),
    (PAPER_RING_CPU_RECORD, {"gan", "bgan", "mbgan", "mixup"}, 8),
])
def test_the_cpu_records_hold_ten_seeds_of_whole_mode_counts_per_evaluation(record, methods, n_modes):
    curves = record["curves"]
    assert set(curves) == methods and record["n_steps"] == 20000
    # every model finished its run, with its wall-clock time: the chapter compares them at the end
    assert set(record["seconds"]) == set(curves)
    for method, curve in curves.items():
        for step, values in curve.items():
            assert 0 < step <= record["n_steps"]
            assert len(values["modes"]) == len(values["high_quality_pct"]) == 10, (method, step)
            assert all(0 <= m <= n_modes and m == int(m) for m in values["modes"]), (method, step)
            assert all(0 <= q <= 100 for q in values["high_quality_pct"]), (method, step)
    assert all(max(curve) == record["n_steps"] for curve in curves.values())


def test_the_thesis_setting_record_says_how_far_each_model_got_and_holds_ten_seeds_per_evaluation():
    record = PAPER_RING_THESIS_CPU_RECORD
    curves = record["curves"]
    assert record["setup"] == "thesis" and record["dataset"] == "ring" and record["n_steps"] == 20000
    assert "gan" in curves and set(curves) <= {"gan", "bgan", "mbgan", "mixup"}
    # finished only when all four models have reached the end; until then nothing may read it as a finished run
    every_model_done = set(curves) == {"gan", "bgan", "mbgan", "mixup"} and all(
        max(curve) == record["n_steps"] for curve in curves.values())
    assert record["finished"] is every_model_done
    # a run across sessions (each resumed from a checkpoint) has no one wall-clock time: its speed is measured
    assert "seconds" not in record
    assert set(record["steps_per_second"]) == set(curves) and all(v > 0 for v in record["steps_per_second"].values())
    for method, curve in curves.items():  # evaluated where the paper config evaluates (1,000, 2,000, 5,000, ...)
        assert set(curve) <= {1000, 2000, 5000, 10000, 15000, 20000}, method
        assert sorted(curve) == [s for s in (1000, 2000, 5000, 10000, 15000, 20000) if s <= max(curve)], method
        for step, values in curve.items():
            assert len(values["modes"]) == len(values["high_quality_pct"]) == 10, (method, step)
            assert all(0 <= m <= 8 and m == int(m) for m in values["modes"]), (method, step)
            assert all(0 <= q <= 100 for q in values["high_quality_pct"]), (method, step)
    with pytest.raises(ValueError, match="seconds"):
        run_rates(record)  # no rate from wall-clock times
    assert "below the bar" in gan_bar_phrase(record)  # the thesis' setting collapses its GAN (Fig. 4.3)


def test_the_cpu_ring_run_is_evaluated_where_the_h200_run_was():
    # the chapter sets its GAN beside the H200's at the same steps
    assert PAPER_RING_CPU_RECORD["dataset"] == PAPER_RING_RECORD["dataset"] == "ring"
    assert set(PAPER_RING_CPU_RECORD["curves"]["gan"]) == set(PAPER_RING_RECORD["curves"]["gan"])


def test_verdicts_along_lists_every_compared_step_once_grouped_by_verdict():
    text = verdicts_along(PAPER_RING_RECORD, "bgan")
    steps = [r["step"] for r in paper_record_comparisons() if r["method"] == "bgan" and r["quantity"] == "modes"]
    listed = [step for group in text.split("; ") for step in group.split(" at step")[1].lstrip("s ").split(", ")]
    assert sorted(listed, key=lambda t: int(t.replace(",", ""))) == [f"{step:,}" for step in sorted(steps)]
    verdicts = {r["verdict"] for r in paper_record_comparisons() if r["method"] == "bgan" and r["quantity"] == "modes"}
    assert len(text.split("; ")) == len(verdicts)
    record = _gan_record("ring", {1000: 5, 2000: 7})
    record["curves"]["mbgan"] = {1000: {"modes": [8.0] * 6, "high_quality_pct": [9.0] * 6}}
    record["curves"]["gan"] = {1000: {"modes": [4.0, 5.0, 4.0, 5.0, 4.0, 5.0], "high_quality_pct": [1.0] * 6}}
    assert verdicts_along(record, "mbgan") == "holds at step 1,000"
    assert verdicts_along(record, "mbgan", "high_quality_pct") == "holds at step 1,000"
    with pytest.raises(ValueError, match="no comparison of 'bgan'"):
        verdicts_along(record, "bgan")
    with pytest.raises(ValueError, match="quantity"):
        verdicts_along(record, "mbgan", "fid")


def test_run_rates_reads_each_finished_models_wall_clock_time():
    record = {"n_steps": 20000, "seconds": {"gan": 4000, "mixup": 3200}}
    assert run_rates(record) == ("GAN: 5.0 generator steps per second (67 minutes for 20,000 steps); "
                                 "mixup GAN: 6.2 generator steps per second (53 minutes for 20,000 steps)")
    assert run_rates(PAPER_GRID_RECORD).count("generator steps per second") == 4
    with pytest.raises(ValueError, match="seconds"):
        run_rates(PAPER_RING_RECORD)  # the H200 run was cut by its lease: no model but the GAN finished
    with pytest.raises(ValueError, match="positive"):
        run_rates({"n_steps": 100, "seconds": {"gan": 0}})
    with pytest.raises(TypeError, match="mapping"):
        run_rates([("gan", 100)])


def test_the_bar_phrase_says_whether_the_comparisons_are_read():
    assert gan_bar_phrase(_gan_record("grid", {1000: 16, 2000: 18})) == (
        "It meets the bar of 17 modes from step 2,000 on, so the comparisons below are read")
    below = gan_bar_phrase(_gan_record("ring", {1000: 7, 2000: 5}))
    assert below.startswith("It stays below the bar of 6 modes") and "not read" in below
    with pytest.raises(TypeError, match="curves"):
        gan_bar_phrase({"dataset": "ring"})


def test_the_last_comparison_is_read_at_the_last_step_both_models_reached():
    record = _gan_record("ring", {1000: 4, 2000: 5, 3000: 7})
    record["curves"]["mixup"] = {1000: {"modes": [8.0, 8.0, 8.0, 8.0], "high_quality_pct": [60.0] * 4},
                                 2000: {"modes": [8.0, 7.0], "high_quality_pct": [10.0, 12.0]}}
    phrase = last_comparison_phrase(record, "mixup")
    assert phrase.startswith("at step 2,000, the mixup GAN covers 7.50 ± 0.71 modes")
    assert "against the GAN's 5.0 ± 1.4 (50.0" in phrase  # format_spread's two significant digits of the std
    assert '"mixup GAN covers more modes" cannot tell at this budget' in phrase
    with pytest.raises(ValueError, match="no comparison of 'bgan'"):
        last_comparison_phrase(record, "bgan")


def test_two_models_are_compared_at_the_last_step_both_reached_in_modes_and_quality():
    text = models_compared_phrase(PAPER_GRID_RECORD, "mixup", "bgan")
    last = max(set(PAPER_GRID_RECORD["curves"]["mixup"]) & set(PAPER_GRID_RECORD["curves"]["bgan"]))
    assert text.startswith(f"at step {last:,}, in modes, the mixup GAN (")
    # the mixup GAN covered 24-25 of the grid's modes in every seed, BGAN 4-11: the interval cannot reach zero
    assert "the mixup GAN (24.80 ± 0.42) is ahead of BGAN" in text
    assert "; in high-quality samples (%), the mixup GAN (" in text
    record = copy.deepcopy(PAPER_RING_RECORD)  # BGAN was cut at 15,000, the GAN went on to 20,000
    assert models_compared_phrase(record, "gan", "bgan").startswith("at step 15,000, in modes, GAN (")
    with pytest.raises(ValueError, match="no run of 'mixup'"):
        models_compared_phrase(record, "gan", "mixup")
    with pytest.raises(ValueError, match="two different models"):
        models_compared_phrase(record, "bgan", "bgan")
    record["curves"]["bgan"] = {500: {"modes": [1.0] * 10, "high_quality_pct": [1.0] * 10}}
    with pytest.raises(ValueError, match="never evaluated at the same step"):
        models_compared_phrase(record, "gan", "bgan")


def test_two_evaluations_are_compared_in_modes_and_quality_and_a_missing_quantity_is_named():
    cpu, h200 = PAPER_RING_CPU_RECORD["curves"]["gan"][20000], PAPER_RING_RECORD["curves"]["gan"][20000]
    text = evaluations_compared_phrase("this run's GAN", cpu, "the H200's", h200)
    modes, quality = text.split("; in high-quality samples (%), ")
    assert modes.startswith("in modes, this run's GAN (7.60 ± 0.70)") and "the H200's (7.90 ± 0.32)" in modes
    assert quality.startswith("this run's GAN (83 ± 13)")
    with pytest.raises(ValueError, match="of \"the H200's\" needs per-seed 'modes' and 'high_quality_pct'"):
        evaluations_compared_phrase("this run's GAN", cpu, "the H200's", {"modes": [8.0] * 10})


def _with_model(record, method, means_by_step):
    """``record`` with ``method`` covering ``mean`` modes in both seeds (mean - 1, mean + 1) at each step."""
    record["curves"][method] = {step: {"modes": [mean - 1, mean + 1], "high_quality_pct": [50.0, 50.0]}
                                for step, mean in means_by_step.items()}
    return record


def test_the_thesis_figure_is_read_from_bgan_the_model_it_shows():
    record = _with_model(_gan_record("ring", {1000: 2, 2000: 1}), "mbgan", {1000: 6, 2000: 7})
    text = thesis_figure_reading(record)
    assert text.startswith("so far the thesis' figure cannot be read: BGAN, the batch-smoothing model it shows, has no "
                           "evaluation yet")
    assert "the GAN covers 1.0 modes at step 2,000, below the bar of 6" in text
    assert 'for M-BGAN, which the thesis calls similar, "more modes than the GAN" ' in text
    # two seeds per model are too few for any verdict but "cannot tell": the reading follows the verdict, not the means
    with_bgan = thesis_figure_reading(_with_model(copy.deepcopy(record), "bgan", {1000: 7}))
    assert with_bgan.startswith("at the end of BGAN's run the thesis' figure cannot be told from these seeds in its "
                                "own setting")
    record["n_steps"] = 20000  # a run still going says how far it got
    assert thesis_figure_reading(_with_model(copy.deepcopy(record), "bgan", {1000: 7})).startswith(
        "so far, with BGAN at step 1,000 of 20,000, the thesis' figure cannot be told")
    behind = {"dataset": "ring", "curves": {  # BGAN clearly behind a collapsed GAN: the figure does not hold
        "gan": {1000: {"modes": [2.0, 3.0] * 5, "high_quality_pct": [10.0] * 10}},
        "bgan": {1000: {"modes": [0.0, 1.0] * 5, "high_quality_pct": [10.0] * 10}}}}
    assert "figure does not hold as it is stated" in thesis_figure_reading(behind)
    assert '"more modes than the GAN" cannot tell at this budget at step 1,000' in with_bgan
    many = {"dataset": "ring", "curves": {
        "gan": {1000: {"modes": [0.0, 1.0] * 5, "high_quality_pct": [10.0] * 10}},
        "bgan": {1000: {"modes": [7.0, 8.0] * 5, "high_quality_pct": [10.0] * 10}}}}
    assert thesis_figure_reading(many).startswith(  # the figure shows the mixup GAN too: without it, BGAN alone
        "at the end of BGAN's run the thesis' figure holds for BGAN in its own setting: the GAN covers 0.5 modes at "
        "step 1,000, below the bar of 6; for BGAN")
    assert "the mixup GAN, which it shows beside BGAN, has no evaluation yet" in thesis_figure_reading(many)
    assert thesis_figure_reading(many).endswith("M-BGAN, which the thesis calls similar, has no evaluation yet")
    # the figure's other column: the mixup GAN ahead too makes it hold; behind, it does not hold as stated
    ahead = copy.deepcopy(many)
    ahead["curves"]["mixup"] = {1000: {"modes": [6.0, 7.0] * 5, "high_quality_pct": [10.0] * 10}}
    assert thesis_figure_reading(ahead).startswith(
        "at the end of the runs of BGAN and the mixup GAN the thesis' figure holds in its own setting")
    ahead["n_steps"] = 20000
    assert thesis_figure_reading(ahead).startswith(
        "so far, with BGAN at step 1,000 and the mixup GAN at step 1,000 of 20,000, the thesis' figure holds")
    ahead["curves"]["mixup"][1000]["modes"] = [0.0] * 10
    assert "figure does not hold as it is stated" in thesis_figure_reading(ahead)
    assert '"more modes than the GAN" does not hold at step 1,000; and M-BGAN' in thesis_figure_reading(ahead)
    many["curves"]["gan"][1000]["modes"] = [7.0, 8.0] * 5  # a GAN at its bar: the figure's "diverges" fails
    assert "does not hold as it is stated" in thesis_figure_reading(many)
    with pytest.raises(ValueError, match="GAN's curve"):
        thesis_figure_reading({"dataset": "ring", "curves": {"bgan": many["curves"]["bgan"]}})
