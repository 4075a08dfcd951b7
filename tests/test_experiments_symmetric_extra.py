"""Fig. 4.6 on digits (symmetric_discriminators/digits_dynamics): smoke run, bar, verdicts."""

import pytest
import torch

from companion.evidence import VERDICTS
from companion.experiments import symmetric_discriminators_extra as X
from companion.symmetric import complementary_mixed_sets


def test_smoke_run_records_curves_bars_and_verdicts():
    cfg = X.DigitsDynamicsConfig.for_scale("smoke")
    result = X.run_digits_dynamics(cfg)
    assert set(result.curves) == set(cfg.methods) == set(X.DIGITS_METHODS)
    for method in cfg.methods:
        assert sorted(result.curves[method]) == list(range(0, cfg.n_steps + 1, cfg.eval_every))
        assert all(len(v) == len(cfg.seeds) for v in result.curves[method].values())
        assert len(result.bars[method]) == len(cfg.seeds)
        assert result.final[method] == [b["frechet"] for b in result.bars[method]]
        assert result.samples[method].shape == (cfg.n_show, 1, 8, 8)
    assert result.metrics["all_meet_bar"] == all(b["meets_bar"] for bars in result.bars.values() for b in bars)
    assert len(result.comparisons) == len(X.DIGITS_CLAIMS)
    for row in result.comparisons:
        assert row["verdict"] in VERDICTS and row["low"] <= row["difference"] <= row["high"]
        both_meet = all(b["meets_bar"] for m in (row["a"], row["b"]) for b in result.bars[m])
        assert row["compared"] == both_meet
        assert row["phrase"].startswith("not compared") != both_meet
    assert len(X.digits_dynamics_table(result)) == len(cfg.methods)
    assert len(X.digits_dynamics_comparisons(result)) == len(X.DIGITS_CLAIMS)
    assert X.plot_digits_dynamics(result) is not None


def test_one_set_draws_what_complementary_mixed_sets_draws():
    real, fake = torch.rand(8, 3), -torch.rand(8, 3)
    sets, targets = X._complementary_sets(real, fake, 0.5, torch.Generator().manual_seed(4), 8)
    want_sets, want_targets = complementary_mixed_sets(real, fake, 0.5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(sets, want_sets) and torch.equal(targets, want_targets)
    sets, targets = X._complementary_sets(real, fake, 0.0, torch.Generator().manual_seed(4), 4)
    assert sets.shape == (4, 4, 3)
    assert set(targets.tolist()) == {0.0, 1.0}  # gamma 0: pure sets
    assert torch.equal(targets[:2] + targets[2:], torch.ones(2))  # each complement holds what its set left out
    with pytest.raises(ValueError, match="set_size"):
        X._complementary_sets(real, fake, 0.5, None, 3)


def test_unknown_methods_are_refused():
    with pytest.raises(ValueError, match="methods"):
        X.run_digits_dynamics(X.DigitsDynamicsConfig.for_scale("smoke", methods=("bgan", "wgan")))


def test_the_sweep_record_reads_as_a_table():
    table = X.digits_sweep_table()
    assert len(table) == len(X.DIGITS_SWEEP_RECORD)
    assert all(m in X.DIGITS_METHODS for m, _, _ in X.DIGITS_SWEEP_RECORD)
    assert all(len(v) == 5 and all(0 <= s <= 1 for s in v) for v in X.DIGITS_SWEEP_RECORD.values())


def test_paper_scale_is_longer_with_ten_seeds():
    book, paper = X.DigitsDynamicsConfig.for_scale("book"), X.DigitsDynamicsConfig.for_scale("paper")
    assert len(book.seeds) >= 5 and len(paper.seeds) == 10
    assert paper.n_steps > book.n_steps and paper.vae_steps == paper.n_steps and book.vae_steps == book.n_steps
    assert book.batch_size % book.set_size == 0 and paper.batch_size % paper.set_size == 0
