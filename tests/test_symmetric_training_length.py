"""The training-length experiment of the symmetric-discriminators chapter: runs of several lengths."""

import numpy as np
import pytest

from companion.evidence import VERDICTS
from companion.experiments import symmetric_training_length as L
from companion.experiments.symmetric_mode_coverage import ModeCoverageConfig, run_mode_coverage


@pytest.fixture(scope="module")
def smoke():
    cfg = L.TrainingLengthConfig.for_scale("smoke")
    return cfg, L.run_training_length(cfg)


def test_smoke_run_trains_every_length_and_scores_each_run_at_the_shorter_lengths(smoke):
    cfg, result = smoke
    assert list(result.runs) == list(cfg.datasets) == ["ring", "grid"]
    for dataset, runs in result.runs.items():
        assert list(runs) == list(cfg.horizons)
        for i, horizon in enumerate(cfg.horizons):
            assert set(runs[horizon]) == set(cfg.methods)
            for run in runs[horizon].values():
                assert len(run["modes"]) == len(run["high_quality_pct"]) == len(cfg.seeds)
                assert all(0 <= m <= L.MODES[dataset] for m in run["modes"])
                assert sorted(run["curve"]) == list(cfg.horizons[:i])
        assert result.metrics[f"{dataset}_gan_stops_rising_at"] in (0.0, *map(float, cfg.horizons[:-1]))
    m = result.metrics
    assert m["n_seeds"] == len(cfg.seeds)
    last = cfg.horizons[-1]
    assert m[f"grid_h{last}_gan_modes_mean"] == np.mean(result.runs["grid"][last]["gan"]["modes"])


def test_each_length_is_the_chapters_mode_coverage_run_of_that_length(smoke):
    """Same recipe, seeds and one-thread jobs: the run of a length is the mode-coverage run with
    ``n_steps`` at that length, scored at the same steps on the way (each scoring draws from the
    run's evaluation noise; a test that the two experiments do not drift apart)."""
    cfg, result = smoke
    horizon = cfg.horizons[-1]
    coverage = run_mode_coverage(ModeCoverageConfig.for_scale("smoke", setups=("pacgan",), n_steps=horizon,
                                                              eval_steps=cfg.horizons[:-1]))
    for dataset in cfg.datasets:
        for method in cfg.methods:
            ours, theirs = result.runs[dataset][horizon][method], coverage.runs[f"pacgan/{dataset}/{method}"]
            assert ours["modes"] == theirs["modes"]
            assert ours["high_quality_pct"] == theirs["high_quality_pct"]


def test_tables_and_figure_from_a_run(smoke):
    cfg, result = smoke
    for dataset, runs in result.runs.items():
        table = L.training_length_table(runs, dataset)
        assert len(table) == len(cfg.horizons) + 1 and "PacGAN" in table["generator steps"].iloc[-1]
        assert table["GAN modes"].iloc[-1] == str(L.PACGAN_TABLE[dataset]["GAN"][0])
        comparisons = L.training_length_comparisons(runs)
        assert len(comparisons) == 2 * len(cfg.horizons)  # BGAN and M-BGAN against the GAN at every length
        assert set(comparisons["verdict"]) <= set(VERDICTS)
    assert L.plot_training_length(result.runs) is not None
    with pytest.raises(ValueError, match="dataset must be one of"):
        L.training_length_table(result.runs["grid"], "moons")


def test_stops_rising_at_reads_the_intervals_over_the_seeds():
    low, high = [3, 4, 3, 4, 3, 4, 3, 4], [9, 10, 9, 10, 9, 10, 9, 10]
    assert L.stops_rising_at({100: low, 200: high, 400: high}) == 200
    assert L.stops_rising_at({100: low, 200: high}) is None  # still rising at the end
    assert L.stops_rising_at({100: high, 200: low, 400: high}) == 100  # nothing longer beats the first
    assert L.stops_rising_at({100: low, 200: low, 400: high}) is None  # a later rise counts
    with pytest.raises(ValueError, match="two training lengths"):
        L.stops_rising_at({100: low})


@pytest.mark.parametrize("overrides, match", [
    ({"horizons": (3000, 1500)}, "increase strictly"),
    ({"horizons": (1500, 1500)}, "increase strictly"),
    ({"horizons": ()}, "increase strictly"),
    ({"horizons": (0, 10)}, "horizons"),
    ({"datasets": ("moons",)}, "datasets must be among"),
    ({"setups": ("thesis", "pacgan")}, "PacGAN setup only"),
])
def test_bad_configurations_are_refused_before_training(overrides, match):
    with pytest.raises(ValueError, match=match):
        L.run_training_length(L.TrainingLengthConfig.for_scale("smoke", **overrides))


def test_the_record_holds_both_data_sets_ten_seeds_and_the_commands_that_ran_them():
    import ast
    import shlex

    from companion.__main__ import _parser
    from companion.experiments.symmetric_training_length_record import GRID_LONGER_RECORD as LONGER
    from companion.experiments.symmetric_training_length_record import LENGTH_RUNS, TRAINING_LENGTH_RECORD

    assert set(TRAINING_LENGTH_RECORD) == {"ring", "grid"}
    book = L.TrainingLengthConfig.for_scale("book")
    for dataset, record in [*TRAINING_LENGTH_RECORD.items(), ("grid", LONGER)]:
        args = _parser().parse_args(shlex.split(record["command"])[3:])
        assert args.ids == ["symmetric_discriminators/training_length"] and args.scale == "book"
        settings = dict(text.split("=", 1) for text in args.set)
        assert ast.literal_eval(settings["datasets"]) == (dataset,)
        lengths = ast.literal_eval(settings["horizons"]) if "horizons" in settings else book.horizons
        runs = record["runs"]
        assert tuple(runs) == tuple(lengths)
        for i, horizon in enumerate(lengths):
            assert set(runs[horizon]) == {"gan", "bgan", "mbgan"}
            for run in runs[horizon].values():
                assert len(run["modes"]) == len(run["high_quality_pct"]) == len(book.seeds) == 10
                assert all(0 <= m <= L.MODES[dataset] for m in run["modes"])
                assert all(0 <= q <= 100 for q in run["high_quality_pct"])
                assert tuple(run["curve"]) == tuple(lengths[:i])
        assert record["seconds"] > 0 and record["date"].startswith("2026-12-0")
        assert record["pacgan_lr"] == book.pacgan_lr  # the record is a run of the book's recipe as it is
    # the longer grid run is longer than every run of the grid's record, and the chapters read them all in order
    assert min(LONGER["runs"]) > max(TRAINING_LENGTH_RECORD["grid"]["runs"])
    assert LENGTH_RUNS["ring"] is TRAINING_LENGTH_RECORD["ring"]["runs"]
    assert list(LENGTH_RUNS["grid"]) == [*TRAINING_LENGTH_RECORD["grid"]["runs"], *LONGER["runs"]]
    assert L.plot_training_length({d: r["runs"] for d, r in TRAINING_LENGTH_RECORD.items()}) is not None
