"""Fig. 4.5 on faces (symmetric_discriminators/faces): smoke run, the bar, the verdicts."""

import numpy as np
import pytest

from companion.evidence import VERDICTS
from companion.experiments import symmetric_faces as X
from companion.reproduce import experiments


def test_smoke_run_scores_every_model_and_reports_the_bar():
    cfg = X.FacesSamplesConfig.for_scale("smoke")
    result = X.run_faces_samples(cfg)
    assert set(result.scores) == set(cfg.methods) == set(X.FACES_METHODS)
    assert result.references["frechet"] > 0 and result.references["nn_median"] > 0
    for method in cfg.methods:
        assert len(result.scores[method]) == len(result.bars[method]) == len(cfg.seeds)
        for scores, bar in zip(result.scores[method], result.bars[method]):
            assert scores["frechet"] > 0 and scores["tv"] > 0 and 1 <= scores["distinct_nn"] <= 70
            assert bar == X.faces_quality_bar(scores, result.references, cfg.max_frechet_ratio, cfg.max_tv_ratio,
                                              cfg.min_copy_ratio)
        assert result.samples[method].shape == result.nearest[method].shape == (cfg.n_show, 1, 25, 25)
        assert result.metrics[f"{method}_meets_bar_seeds"] == sum(b["meets_bar"] for b in result.bars[method])
    # an untrained generator, and one after four steps, have not learned the faces: the bar must say so
    assert result.references["untrained_frechet"] > cfg.max_frechet_ratio * result.references["frechet"]
    assert not result.metrics["all_meet_bar"]
    assert len(result.comparisons) == len(X.FACES_CLAIMS)
    for row in result.comparisons:
        assert row["verdict"] in VERDICTS and row["low"] <= row["difference"] <= row["high"]
        assert not row["compared"] and row["phrase"].startswith("not compared")
    assert len(X.faces_table(result)) == len(cfg.methods) + 1
    assert len(X.faces_comparisons(result)) == len(X.FACES_CLAIMS)
    assert X.plot_faces_samples(result) is not None


def test_one_worker_and_two_give_the_same_numbers(one_worker_and_two):
    cfg = X.FacesSamplesConfig.for_scale("smoke", methods=("gan", "mbgan"))
    one, two = one_worker_and_two(X.run_faces_samples, cfg)
    assert one.scores == two.scores and one.bars == two.bars
    assert all(np.array_equal(one.samples[m], two.samples[m]) for m in cfg.methods)
    assert one.scores["gan"][0] != one.scores["gan"][1]  # the seeds differ


def test_the_bar_catches_copies_noise_and_poor_quality():
    refs = {"frechet": 5.0, "tv": 0.08, "nn_median": 0.18}
    assert X.faces_quality_bar({"frechet": 8.0, "tv": 0.09, "nn_median": 0.12}, refs)["meets_bar"]
    copies = X.faces_quality_bar({"frechet": 4.0, "tv": 0.08, "nn_median": 0.01}, refs)
    assert not copies["meets_bar"] and not copies["not_copying"] and copies["within_frechet"]
    assert not X.faces_quality_bar({"frechet": 8.0, "tv": 0.3, "nn_median": 0.3}, refs)["smooth"]
    assert not X.faces_quality_bar({"frechet": 11.0, "tv": 0.08, "nn_median": 0.2}, refs)["within_frechet"]
    with pytest.raises(ValueError, match="nn_median"):
        X.faces_quality_bar({"frechet": 1.0, "tv": 1.0}, refs)
    with pytest.raises(ValueError, match="max_frechet_ratio"):
        X.faces_quality_bar(refs, refs, max_frechet_ratio=0)


def test_training_faces_are_their_own_nearest_neighbours():
    train, _, _ = X._faces_splits()
    index, distance = X._nearest_training(train[:5], train)
    assert index.tolist() == list(range(5)) and bool((distance < 1e-6).all())


def test_registered_with_unknown_methods_refused_and_paper_scale_the_thesis_optimiser():
    assert experiments()["symmetric_discriminators/faces"].config is X.FacesSamplesConfig
    with pytest.raises(ValueError, match="methods"):
        X.run_faces_samples(X.FacesSamplesConfig.for_scale("smoke", methods=("gan", "wgan")))
    book, paper = X.FacesSamplesConfig.for_scale("book"), X.FacesSamplesConfig.for_scale("paper")
    assert len(book.seeds) >= 5 and len(paper.seeds) >= 5  # a comparison rests on five seeds or more
    assert paper.betas == (0.0, 0.9) and paper.lr == 1e-4 and paper.n_steps == 66_000
    assert book.betas == paper.betas  # the thesis' betas at book scale too (FACES_OPTIMISER_RECORD: why)


def test_the_optimiser_record_covers_every_model_on_the_book_seeds():
    book = X.FacesSamplesConfig.for_scale("book")
    settings = {setting for setting, _ in X.FACES_OPTIMISER_RECORD}
    for setting in settings:
        assert {m for s, m in X.FACES_OPTIMISER_RECORD if s == setting} == set(X.FACES_METHODS)
    for frechet, met in X.FACES_OPTIMISER_RECORD.values():
        assert len(frechet) == len(met) == len(book.seeds) and all(f > 0 for f in frechet) and set(met) <= {0, 1}
    # the reason the book run takes other betas: with (0.5, 0.999) some model missed the bar in some seed
    for setting in (s for s in settings if s.startswith("Adam (0.5, 0.999)")):
        assert not all(all(met) for (s, _), (_, met) in X.FACES_OPTIMISER_RECORD.items() if s == setting)
