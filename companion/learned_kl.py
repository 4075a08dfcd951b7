"""KL[q(z) || p(z)] from a learned model: the estimators of the paper's App. E.2 and E.3.

Rosca et al. (2018) measure the marginal KL of eq. 5 (see :mod:`companion.surgery`) in two
more ways than Monte Carlo, both of which *learn* something from samples of q(z):

* :func:`density_ratio_kl` — a classifier of q-samples against p-samples, whose logit is
  read as log q(z)/p(z) (Alg. 3, the density-ratio trick);
* :func:`density_model_kl` — a density model t fitted to q-samples, scored as
  E_q[log t(z) - log p(z)] (Alg. 4), with :class:`GaussianMixtureDensity` as the simplest
  such model.

Both typically *underestimate* the KL (the chapter's point): a classifier is not Bayes-optimal,
and a density model that misses q loses exactly KL[q || t]. Each returns a :class:`KLFit`.

Chapter: ``book/elbo_surgery.md``; its experiments: ``companion/experiments/elbo_surgery_ratios.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from torch import nn

import companion

from .checks import check_nonnegative, check_positive, check_positive_int, check_probability, check_tensor
from .nets import Dropout
from .surgery import _check_generator, standard_normal_log_prob
from .train import History, adam, fit_likelihood, minibatches, train_loop

__all__ = ["GaussianMixtureDensity", "KLFit", "RatioClassifier", "density_model_kl", "density_ratio_kl"]


@dataclass
class KLFit:
    """The result of a learned KL estimator.

    Attributes:
        kl: the estimate, in nats (on held-out samples).
        model: the trained classifier (density ratio) or density model.
        history: its training curve (empty when the model fitted itself).
    """

    kl: float
    model: Any
    history: History


# --------------------------------------------------------------------------- input checks and the split
def _check_samples(q_samples: Any, p_samples: Any = None) -> None:
    check_tensor(q_samples, "q_samples", shape=(None, None))
    if q_samples.shape[0] < 2 or q_samples.shape[1] < 1:
        raise ValueError("q_samples needs at least 2 rows (some are held out for evaluation) and 1 column; "
                         f"got shape {tuple(q_samples.shape)}")
    if p_samples is not None:
        check_tensor(p_samples, "p_samples", shape=(None, None))
        if p_samples.shape[1] != q_samples.shape[1]:
            raise ValueError("q_samples and p_samples must have the same dimension; "
                             f"got {q_samples.shape[1]} and {p_samples.shape[1]}")


def _check_fraction(value: Any, name: str, allow_zero: bool = False) -> float:
    """``value`` in (0, 1), or in [0, 1) with ``allow_zero``."""
    check_probability(value, name)
    if value == 1 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must lie in {'[0, 1)' if allow_zero else '(0, 1)'}; got {value!r}")
    return float(value)


def _split(samples: torch.Tensor, fraction: float, generator: Optional[torch.Generator]):
    """``(train, held_out)``: a random ``fraction`` of the rows (at least one) held out."""
    n_eval = max(1, int(round(fraction * samples.shape[0])))
    if generator is None:
        order = torch.randperm(samples.shape[0])
    else:
        order = torch.randperm(samples.shape[0], generator=generator, device=generator.device).cpu()
    order = order.to(samples.device)
    return samples[order[n_eval:]], samples[order[:n_eval]]


@torch.no_grad()
def _mean_over(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, chunk: int = 4096) -> float:
    """The mean of ``fn(z)`` over the rows of ``z``, computed in chunks."""
    return float(torch.cat([fn(c) for c in z.split(chunk)]).mean())


# --------------------------------------------------------------------------- the density-ratio trick
class RatioClassifier(nn.Module):
    """An MLP classifier with leaky ReLUs (slope 0.2), optional Gaussian activation noise
    (training only) and dropout, as the paper's code discriminators."""

    def __init__(self, dim: int, hidden: int, depth: int, activation_noise: float, dropout: float):
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden), ("depth", depth)):
            check_positive_int(value, name)
        check_nonnegative(activation_noise, "activation_noise")
        _check_fraction(dropout, "dropout", allow_zero=True)
        sizes = [dim] + [hidden] * depth
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], 1)
        self.activation_noise = activation_noise
        self.dropout = Dropout(dropout)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """One logit per row of ``z``, ``(batch,)``: large where the classifier reads a q-sample."""
        h = z
        for layer in self.layers:
            h = nn.functional.leaky_relu(layer(h), 0.2)
            if self.training and self.activation_noise > 0:
                h = h + self.activation_noise * torch.randn_like(h)
            h = self.dropout(h)
        return self.head(h).squeeze(-1)


def _logistic_loss(classifier: nn.Module, zq: torch.Tensor, zp: torch.Tensor, gradient_penalty: float) -> torch.Tensor:
    """The logistic loss of q-samples (label 1) against p-samples (label 0), plus the optional
    penalty on the squared norm of the logit's gradient at the samples."""
    z = torch.cat([zq, zp]).requires_grad_(gradient_penalty > 0)
    logits = classifier(z)
    labels = torch.cat([torch.ones(len(zq)), torch.zeros(len(zp))]).to(logits)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, labels)
    if gradient_penalty > 0:
        (grad,) = torch.autograd.grad(logits.sum(), z, create_graph=True)
        loss = loss + gradient_penalty * grad.pow(2).sum(-1).mean()
    return loss


def _train_classifier(classifier: nn.Module, q_train: torch.Tensor, p_samples: torch.Tensor, *, n_steps: int,
                      lr: float, batch_size: int, gradient_penalty: float,
                      generator: Optional[torch.Generator]) -> History:
    """Adam(beta1=0.5, beta2=0.9) on :func:`_logistic_loss` over balanced minibatches of q and p."""
    check_positive_int(n_steps, "n_steps")
    check_positive_int(batch_size, "batch_size")
    check_positive(lr, "lr")
    check_nonnegative(gradient_penalty, "gradient_penalty")
    optimizer = adam(classifier.parameters(), lr=lr, betas=(0.5, 0.9))
    q_batches = minibatches(q_train, batch_size, generator=generator)
    p_batches = minibatches(p_samples, batch_size, generator=generator)

    def step(_: int):
        loss = _logistic_loss(classifier, next(q_batches), next(p_batches), gradient_penalty)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach()}

    classifier.train()
    history = train_loop(step, n_steps, desc="density ratio", log_every=max(1, n_steps // 200),
                         state={"classifier": classifier, "optimizer": optimizer,
                                "q_batches": q_batches, "p_batches": p_batches})
    classifier.eval()
    return history


def density_ratio_kl(q_samples: torch.Tensor, p_samples: torch.Tensor, hidden: int = 256, depth: int = 3,
                     n_steps: int = 2000, lr: float = 5e-4, batch_size: int = 256, activation_noise: float = 0.0,
                     dropout: float = 0.0, gradient_penalty: float = 0.0, eval_fraction: float = 0.2,
                     generator: Optional[torch.Generator] = None, classifier: Optional[nn.Module] = None) -> KLFit:
    """KL[q || p] by the density ratio trick (App. E.2, Alg. 3).

    A classifier C(z) learns to tell ``q_samples`` (label 1) from ``p_samples`` (label 0)
    with the logistic loss. If it were Bayes-optimal with balanced classes, its logit would be
    log q(z)/p(z), so the mean logit over held-out q samples estimates KL[q||p]. Real
    classifiers are not optimal: the estimate is typically far too small, and it moves with
    the classifier's depth, width and regularisation.

    Args:
        q_samples: samples of q, shape ``(M, d)``; a fraction ``eval_fraction`` is held out.
        p_samples: samples of p, shape ``(M', d)`` (for the prior, ``torch.randn``).
        hidden, depth: width and number of hidden layers of the default classifier.
        n_steps, lr, batch_size: Adam(beta1=0.5, beta2=0.9) training of the classifier.
        activation_noise: std of Gaussian noise added to hidden activations in training.
        dropout: dropout rate after each hidden layer.
        gradient_penalty: weight of a penalty on the squared norm of the logit's gradient
            at the training samples (0: none).
        eval_fraction: fraction of ``q_samples`` held out for the estimate, in (0, 1).
        generator: optional generator for the split and minibatch order.
        classifier: your own ``nn.Module`` mapping ``(B, d)`` to ``(B,)`` logits (then
            ``hidden``, ``depth``, ``activation_noise`` and ``dropout`` are ignored).

    Returns:
        A :class:`KLFit` with the estimate, the classifier and its loss curve.
    """
    _check_samples(q_samples, p_samples)
    _check_fraction(eval_fraction, "eval_fraction")
    _check_generator(generator)
    q_train, q_eval = _split(q_samples, eval_fraction, generator)
    if classifier is None:
        classifier = RatioClassifier(q_samples.shape[1], hidden, depth, activation_noise, dropout)
    classifier = classifier.to(q_samples.device)
    history = _train_classifier(classifier, q_train, p_samples.to(q_samples.device), n_steps=n_steps, lr=lr,
                                batch_size=batch_size, gradient_penalty=gradient_penalty, generator=generator)
    # The logit is the estimated log density ratio; a class imbalance in training would
    # shift it by log(M_q / M_p), which the balanced minibatches avoid.
    return KLFit(_mean_over(classifier, q_eval), classifier, history)


# --------------------------------------------------------------------------- density models of q(z)
class GaussianMixtureDensity:
    """A mixture of diagonal Gaussians for q(z) (App. E.3), fitted by EM (scikit-learn).

    Follows the density protocol: ``fit(z)``, ``log_prob(z) -> Tensor[batch]`` (nats),
    ``sample(n)``.
    """

    log_prob_is_bound = False

    def __init__(self, n_components: int = 10, seed: int = 0, max_iter: int = 200):
        check_positive_int(n_components, "n_components")
        self.n_components, self.seed, self.max_iter = n_components, seed, max_iter
        self._gmm = None

    def fit(self, z: torch.Tensor) -> "GaussianMixtureDensity":
        """Fit the mixture to samples ``z`` of shape ``(M, d)``."""
        from sklearn.mixture import GaussianMixture

        check_tensor(z, "z", shape=(None, None))
        self._gmm = GaussianMixture(
            self.n_components, covariance_type="diag", random_state=self.seed, max_iter=self.max_iter, reg_covar=1e-5
        )
        with companion.blas_threads(1):  # EM's small products run faster on one BLAS thread
            self._gmm.fit(z.detach().cpu().double().numpy())
        return self

    def _fitted(self):
        if self._gmm is None:
            raise RuntimeError("call fit(z) before log_prob or sample")
        return self._gmm

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density of each row of ``z``, in nats."""
        check_tensor(z, "z", shape=(None, None))
        values = self._fitted().score_samples(z.detach().cpu().double().numpy())
        return torch.as_tensor(values, dtype=z.dtype, device=z.device)

    def sample(self, n: int) -> torch.Tensor:
        """``n`` draws from the fitted mixture, ``(n, d)`` in float32."""
        check_positive_int(n, "n")
        return torch.as_tensor(self._fitted().sample(n)[0], dtype=torch.float32)


def _fit_density_model(density_model: Any, q_train: torch.Tensor, *, n_steps: int, lr: float, batch_size: int,
                       generator: Optional[torch.Generator]) -> History:
    """``density_model.fit(q_train)`` when it has one; maximum likelihood for an ``nn.Module``."""
    if callable(getattr(density_model, "fit", None)):
        density_model.fit(q_train)
        return History()
    if not isinstance(density_model, nn.Module):
        raise TypeError("density_model must have a fit(z) method or be an nn.Module to train (or pass fit=False)")
    check_positive_int(n_steps, "n_steps")
    density_model.to(q_train.device)
    history = fit_likelihood(density_model, q_train, n_steps=n_steps, batch_size=batch_size, lr=lr,
                             generator=generator, log_every=max(1, n_steps // 200), desc="density model")
    density_model.eval()
    return history


def density_model_kl(q_samples: torch.Tensor, density_model: Any, n_steps: int = 2000, lr: float = 1e-3,
                     batch_size: int = 256, eval_fraction: float = 0.2, generator: Optional[torch.Generator] = None,
                     fit: bool = True) -> KLFit:
    """KL[q || N(0, I)] with a density model t fitted to samples of q (App. E.3, Alg. 4).

    The model is fitted on part of ``q_samples``; the estimate is the mean of
    log t(z) - log p(z) over the held-out rest. Since E_q[log t] = -H[q] - KL[q || t], its
    expectation is KL[q||p] - KL[q||t]: a density model that misses q *underestimates* the
    marginal KL, by exactly how badly it misses.

    Args:
        q_samples: samples of q(z), shape ``(M, d)``.
        density_model: any object with ``log_prob(z) -> (B,)``. If it has a ``fit(z)``
            method, that is called (GMM, the LDE, ...); otherwise it must be an
            ``nn.Module`` (a Real-NVP, an autoregressive model) and is trained here by
            maximum likelihood (:func:`companion.train.fit_likelihood`, Adam) for ``n_steps`` steps.
        n_steps, lr, batch_size: the maximum-likelihood training of an ``nn.Module``.
        eval_fraction: fraction of ``q_samples`` held out, in (0, 1).
        generator: optional generator for the split and minibatch order.
        fit: ``False`` uses the model as it is (already fitted) and only evaluates it.

    Returns:
        A :class:`KLFit`.
    """
    _check_samples(q_samples)
    if not callable(getattr(density_model, "log_prob", None)):
        raise TypeError("density_model must have a log_prob(z) method")
    _check_fraction(eval_fraction, "eval_fraction")
    _check_generator(generator)
    q_train, q_eval = _split(q_samples, eval_fraction, generator)
    history = History()
    if fit:
        history = _fit_density_model(density_model, q_train, n_steps=n_steps, lr=lr, batch_size=batch_size,
                                     generator=generator)
    kl = _mean_over(lambda z: density_model.log_prob(z) - standard_normal_log_prob(z), q_eval)
    return KLFit(kl, density_model, history)
