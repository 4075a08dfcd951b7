"""Fig. 4.6 on digits (symmetric_discriminators/digits_dynamics): smoke run, bar, verdicts."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from companion.evidence import VERDICTS
from companion.experiments import symmetric_discriminators_extra as X
from companion.replicas import Replicas
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


def test_one_worker_and_two_give_the_same_numbers(one_worker_and_two):
    cfg = X.DigitsDynamicsConfig.for_scale("smoke", methods=("bgan", "minibatch"))
    one, two = one_worker_and_two(X.run_digits_dynamics, cfg)
    assert one.final == two.final and one.curves == two.curves
    assert [b["reference_frechet"] for b in one.bars["bgan"]] == [b["reference_frechet"] for b in two.bars["bgan"]]
    assert len(set(one.final["bgan"])) == len(cfg.seeds)  # the seeds differ


@pytest.mark.parametrize("method", sorted(X.DIGITS_METHODS))
def test_every_discriminator_is_spectrally_normalised_and_stacks_as_replicas(method):
    cfg = X.DigitsDynamicsConfig.for_scale("smoke")
    assert cfg.spectral_norm
    linears = [m for m in X._digits_discriminator(method, cfg).modules() if isinstance(m, nn.Linear)]
    assert linears and all(parametrize.is_parametrized(m, "weight") for m in linears)
    plain = X._digits_discriminator(method, X.DigitsDynamicsConfig.for_scale("smoke", spectral_norm=False))
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    assert Replicas(lambda: X._digits_discriminator(method, cfg), [0, 1]).backend == "ensemble"


def test_unknown_methods_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="methods"):
        X.run_digits_dynamics(X.DigitsDynamicsConfig.for_scale("smoke", methods=("bgan", "wgan")))
    with pytest.raises(ValueError, match="betas must be a pair"):
        X.run_digits_dynamics(X.DigitsDynamicsConfig.for_scale("smoke", betas=(0.5, 1.0)))
    with pytest.raises(TypeError, match="spectral_norm must be a bool"):
        X.run_digits_dynamics(X.DigitsDynamicsConfig.for_scale("smoke", spectral_norm="yes"))


def test_the_sweep_record_reads_as_a_table():
    table = X.digits_sweep_table()
    assert len(table) == len(X.DIGITS_SWEEP_RECORD)
    assert all(m in X.DIGITS_METHODS for m, _, _ in X.DIGITS_SWEEP_RECORD)
    assert all(len(v) == 5 and all(0 <= s <= 1 for s in v) for v in X.DIGITS_SWEEP_RECORD.values())


def test_the_recipe_record_reads_as_a_table_and_matches_the_book_setting():
    table = X.digits_recipe_table()
    assert len(table) == len(X.DIGITS_RECIPE_RECORD)
    book = X.DigitsDynamicsConfig.for_scale("book")
    for (recipe, method), (frechet, met) in X.DIGITS_RECIPE_RECORD.items():
        assert method in X.DIGITS_METHODS and len(frechet) == len(met) == len(book.seeds)
        assert all(f > 0 for f in frechet) and set(met) <= {0, 1}
    # the book's recipe is the one of the record under which every model met the bar in every seed
    chosen = "Adam (0, 0.9) and spectral normalisation"
    assert all(all(X.DIGITS_RECIPE_RECORD[chosen, m][1]) for m in X.DIGITS_METHODS)
    assert not all(all(met) for (recipe, _), (_, met) in X.DIGITS_RECIPE_RECORD.items()
                   if recipe == "Adam (0.5, 0.999), no normalisation")


def test_paper_scale_is_longer_with_ten_seeds():
    book, paper = X.DigitsDynamicsConfig.for_scale("book"), X.DigitsDynamicsConfig.for_scale("paper")
    assert len(book.seeds) >= 5 and len(paper.seeds) == 10
    assert paper.n_steps > book.n_steps and paper.vae_steps == paper.n_steps and book.vae_steps == book.n_steps
    assert book.batch_size % book.set_size == 0 and paper.batch_size % paper.set_size == 0
    # the recipe that brings every model to the bar, at both scales
    assert book.spectral_norm and paper.spectral_norm and tuple(book.betas) == tuple(paper.betas) == (0.0, 0.9)
