"""VAE-GAN hybrids that match marginals with classifiers (Rosca et al. 2018, Sec. 4-6, App. F).

All three models have an encoder with a Gaussian posterior q(z|x), a generator G(z) and a
*code discriminator* C(z) that tells prior samples (real) from codes of the data (fake); the
encoder fools C, so q(z) is pushed towards p(z) by the density-ratio trick instead of the
ELBO's per-example KL:

* ``"aae"`` — the adversarial auto-encoder (Makhzani et al.): Bernoulli reconstruction
  plus the code-adversarial loss; no data discriminator.
* ``"vgh"`` — a data discriminator D(x) tells data (real) from *reconstructions* (fake),
  eq. 8; l1 reconstruction with weight ``rec_weight``.
* ``"vgh++"`` — D also sees *samples* G(z), z ~ p(z), as fake, eq. 9 and Alg. 5, so the
  generator learns from the prior's codes too.

Two more variational hybrids, for what they report as a bound (the paper's Figs. 4, 23, 24):
:class:`AdversarialVB` (an implicit encoder and a discriminator of (x, z) pairs standing in
for log q(z|x) - log p(z)) and :class:`VEEGAN` (a GAN with a reconstructor and a joint
discriminator); :func:`aae_bound_estimates` sets the AAE's classifier-based report beside
its true ELBO.

The adversarial terms are the paper's R(.) = -log D + log(1 - D) = -logit D. GAN losses
come from :mod:`companion.gan`. The module also holds the paper's evaluation metric for
models without a likelihood (App. I): :func:`independent_critic_score`, a fresh WGAN-GP
critic trained on validation data against samples, and :func:`sample_diversity`.

Chapter: ``book/elbo_surgery.md``; its experiments: ``companion/experiments/elbo_surgery_hybrids.py`` and
``elbo_surgery_galleries.py``.
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from . import distributed
from .checks import check_positive, check_positive_int, check_tensor
from .gan import MLPDiscriminator, discriminator_loss, gradient_penalty, wasserstein_critic_loss
from .nets import MLP, check_shape
from .train import Callback, History, adam, fit_adversarial, minibatches, train_loop

__all__ = [
    "HYBRIDS",
    "VAEGANHybrid",
    "AdversarialVB",
    "VEEGAN",
    "aae_bound_estimates",
    "fit_hybrid",
    "hybrid_optimizers",
    "hybrid_step",
    "independent_critic_score",
    "sample_diversity",
]

#: The hybrids :class:`VAEGANHybrid` knows.
HYBRIDS = ("aae", "vgh", "vgh++")


class VAEGANHybrid(nn.Module):
    """An AAE, VGH or VGH++ with MLP networks, for data in [0, 1].

    Args:
        shape: shape of one example, e.g. ``(1, 8, 8)``.
        latent_dim: dimension of z (prior N(0, I)).
        kind: ``"aae"``, ``"vgh"`` or ``"vgh++"``.
        hidden, n_layers: width and depth of every MLP (encoder, generator, discriminators).
        rec_weight: the weight lambda of the l1 reconstruction loss (VGH, VGH++).

    Implements the sample-only protocol: :meth:`sample` (no ``log_prob``: these models have
    no likelihood bound, which is the paper's point).
    """

    def __init__(self, shape: Sequence[int], latent_dim: int, kind: str = "vgh++", hidden: int = 256,
                 n_layers: int = 2, rec_weight: float = 10.0) -> None:
        super().__init__()
        self.shape = check_shape(shape)
        if kind not in HYBRIDS:
            raise ValueError(f"kind must be one of {HYBRIDS}; got {kind!r}")
        check_positive_int(latent_dim, "latent_dim")
        check_positive(rec_weight, "rec_weight")
        self.kind, self.latent_dim, self.rec_weight = kind, latent_dim, float(rec_weight)
        n = math.prod(self.shape)
        self.encoder = MLP(n, 2 * latent_dim, hidden, n_layers)
        self.generator = MLP(latent_dim, n, hidden, n_layers)  # logits of the pixels
        self.code_discriminator = MLP(latent_dim, 1, hidden, n_layers, activation="leaky_relu")
        self.data_discriminator = None if kind == "aae" else MLPDiscriminator(self.shape, hidden, n_layers)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each ``(batch, latent_dim)``."""
        _check_batch(self, x)
        mu, logvar = self.encoder(x.flatten(1)).chunk(2, dim=-1)
        return mu, logvar.clamp(-12.0, 8.0)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's Bernoulli logits, one per pixel, in the image's shape."""
        return self.generator(z).view(z.shape[0], *self.shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (the mean of the pixel distribution)."""
        return torch.sigmoid(self.decode_logits(z))

    def code_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The code discriminator's logit per code ``(batch,)``: prior draws (real) against posterior codes."""
        return self.code_discriminator(z).squeeze(-1)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` images G(z), z ~ N(0, I)."""
        check_positive_int(n, "n")
        return self.decode(torch.randn(n, self.latent_dim, device=self._device()))


def _reconstruction_loss(model: VAEGANHybrid, x: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    """The AAE's Bernoulli negative log-likelihood, or VGH's weighted l1 error (batch means)."""
    if model.kind == "aae":
        nll = F.binary_cross_entropy_with_logits(model.decode_logits(z_hat), x, reduction="none")
        return nll.flatten(1).sum(1).mean()
    return model.rec_weight * (model.decode(z_hat) - x).abs().flatten(1).sum(1).mean()


def _generator_loss(model: VAEGANHybrid, reconstruction: torch.Tensor, z_hat: torch.Tensor,
                    z_prior: torch.Tensor) -> torch.Tensor:
    """Reconstruction, plus R_D = -logit D of the reconstructions (and of the samples, for VGH++)."""
    loss = reconstruction
    if model.data_discriminator is not None:
        loss = loss - model.data_discriminator(model.decode(z_hat)).mean()
        if model.kind == "vgh++":
            loss = loss - model.data_discriminator(model.decode(z_prior)).mean()
    return loss


def _data_discriminator_step(model: VAEGANHybrid, x: torch.Tensor, z_hat: torch.Tensor, z_prior: torch.Tensor,
                             optimizer: Optional[torch.optim.Optimizer]) -> torch.Tensor:
    """One step of D: data are real; reconstructions (and samples for VGH++) are fake.

    For VGH++ the weights of data, reconstructions and samples are 2 : 1 : 1, as in step 8 of
    Alg. 5 (up to a factor), not the 1 : 1 : 1 of eq. 9, which has another optimal D; the
    paper is inconsistent here, and this follows Alg. 5.
    """
    if model.data_discriminator is None:  # the AAE has none
        return torch.zeros((), device=x.device)
    with torch.no_grad():
        fakes = [model.decode(z_hat)]
        if model.kind == "vgh++":
            fakes.append(model.decode(z_prior))
    d = model.data_discriminator
    loss = sum(discriminator_loss(d(x), d(f)) for f in fakes) / len(fakes)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def hybrid_step(
    model: VAEGANHybrid, x: torch.Tensor, optimizers: Dict[str, torch.optim.Optimizer]
) -> Dict[str, torch.Tensor]:
    """One step of Alg. 5 (App. F): encoder, generator, data discriminator, code discriminator.

    Args:
        model: the hybrid.
        x: a minibatch in [0, 1].
        optimizers: ``{"encoder", "generator", "code", "data"}`` (``"data"`` unused by the AAE).

    Returns:
        The four losses (detached).
    """
    mu, logvar = model.encode(x)
    # torchrun, sharded fit: this share's rows of the global batch's noise
    eps, z_prior = (distributed.batch_noise(torch.randn, mu.shape, dtype=mu.dtype, device=mu.device) for _ in range(2))
    z_hat = mu + torch.exp(0.5 * logvar) * eps
    reconstruction = _reconstruction_loss(model, x, z_hat)

    # Encoder: reconstruction + R_C(z_hat) = -logit C(z_hat) (fool the code discriminator).
    # Generator: reconstruction (+ R_D of reconstructions, + R_D of samples for VGH++).
    # Each network gets the gradient of its own loss only.
    encoder_loss = reconstruction - model.code_logits(z_hat).mean()
    optimizers["encoder"].zero_grad(set_to_none=True)
    encoder_grads = torch.autograd.grad(encoder_loss, list(model.encoder.parameters()), retain_graph=True)
    generator_loss = _generator_loss(model, reconstruction, z_hat, z_prior)
    generator_grads = torch.autograd.grad(generator_loss, list(model.generator.parameters()))
    for p, g in zip(model.encoder.parameters(), encoder_grads):
        p.grad = g
    for p, g in zip(model.generator.parameters(), generator_grads):
        p.grad = g
    optimizers["encoder"].step()
    optimizers["generator"].step()

    # Code discriminator: prior codes are real, encoder codes fake.
    code_loss = discriminator_loss(model.code_logits(z_prior), model.code_logits(z_hat.detach()))
    optimizers["code"].zero_grad(set_to_none=True)
    code_loss.backward()
    optimizers["code"].step()

    data_loss = _data_discriminator_step(model, x, z_hat, z_prior, optimizers.get("data"))
    return {"reconstruction": reconstruction.detach(), "encoder": encoder_loss.detach(),
            "code_discriminator": code_loss.detach(), "data_discriminator": data_loss.detach()}


def hybrid_optimizers(model: VAEGANHybrid, lr: float = 5e-4, disc_lr: float = 5e-4) -> Dict[str, torch.optim.Optimizer]:
    """The optimizers :func:`hybrid_step` expects: Adam(beta1=0.5, beta2=0.9), the paper's settings (App. K)."""
    if not isinstance(model, VAEGANHybrid):
        raise TypeError(f"model must be a VAEGANHybrid; got {type(model).__name__}")
    check_positive(lr, "lr"), check_positive(disc_lr, "disc_lr")
    betas = (0.5, 0.9)
    optimizers = {
        "encoder": adam(model.encoder.parameters(), lr=lr, betas=betas),
        "generator": adam(model.generator.parameters(), lr=lr, betas=betas),
        "code": adam(model.code_discriminator.parameters(), lr=disc_lr, betas=betas),
    }
    if model.data_discriminator is not None:
        optimizers["data"] = adam(model.data_discriminator.parameters(), lr=disc_lr, betas=betas)
    return optimizers


def fit_hybrid(
    model: VAEGANHybrid,
    data: torch.Tensor,
    *,
    n_steps: int,
    batch_size: int = 64,
    lr: float = 5e-4,
    disc_lr: float = 5e-4,
    generator: Optional[torch.Generator] = None,
    callback: Optional[Callback] = None,
    progress: Optional[bool] = None,
    desc: Optional[str] = None,
) -> History:
    """Train a hybrid with :func:`hybrid_optimizers` (Adam(beta1=0.5, beta2=0.9), the paper's
    settings, App. K): ``lr`` for the encoder and generator, ``disc_lr`` for the
    discriminators, in the package's alternating-update loop (:func:`companion.train.fit_adversarial`).
    Under ``torchrun`` each process trains on its share of every minibatch, with that share's
    rows of the global batch's noise and gradients averaged before each step (the losses are
    means over examples), so two processes train as one does."""
    check_tensor(data, "data", shape=(None, *model.shape))
    if float(data.min()) < 0 or float(data.max()) > 1:
        raise ValueError("data must lie in [0, 1]")
    data = data.to(model._device())
    optimizers = hybrid_optimizers(model, lr, disc_lr)
    model.train()
    history = fit_adversarial(lambda real: hybrid_step(model, real[0], optimizers), data, n_steps=n_steps,
                              batch_size=batch_size, generator=generator, callback=callback, progress=progress,
                              log_every=max(1, n_steps // 100), desc=desc or model.kind.upper(), shard=True,
                              state={"model": model, **{f"{name}_optimizer": opt for name, opt in optimizers.items()}})
    model.eval()
    return history


def independent_critic_score(samples: torch.Tensor, valid: torch.Tensor, n_steps: int = 500, hidden: int = 128,
                             lr: float = 1e-4, gp_weight: float = 10.0, batch_size: int = 64, seed: int = 0) -> float:
    """The independent Wasserstein critic of App. I: higher (closer to 0) is better.

    A fresh WGAN-GP critic is trained to separate *validation* data (real) from model samples
    (fake) on one half of each; the score is minus its estimate of the Wasserstein distance,
    -(E C(real) - E C(fake)), on the other halves. Training on validation data means a model
    that copies its training set is not rewarded (Danihelka et al. 2017).

    Args:
        samples: model samples ``(M, ...)``; valid: validation data of the same shape.
        n_steps, hidden, lr, gp_weight, batch_size: the critic (Adam(0.5, 0.9), 5 is not needed:
            the samples are fixed, so every step is a critic step).
        seed: seeds the critic's initialisation and the split.

    Returns:
        The negative Wasserstein estimate, a float.
    """
    for name, value in (("samples", samples), ("valid", valid)):
        check_tensor(value, name)
        if value.dim() < 2 or value.shape[0] < 4:
            raise ValueError(f"{name} must be a batch with at least 4 rows; got shape {tuple(value.shape)}")
    if samples.shape[1:] != valid.shape[1:]:
        raise ValueError(
            "samples and valid must have the same example shape; "
            f"got {tuple(samples.shape[1:])} and {tuple(valid.shape[1:])}"
        )
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = valid.device
    samples = samples.to(device)

    def halves(t: torch.Tensor):
        order = torch.randperm(t.shape[0], generator=g).to(device)
        return t[order[: t.shape[0] // 2]], t[order[t.shape[0] // 2:]]

    (real_train, real_test), (fake_train, fake_test) = halves(valid), halves(samples)
    critic = MLPDiscriminator(tuple(valid.shape[1:]), hidden, 2).to(device)
    optimizer = adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
    real_batches = minibatches(real_train, batch_size, generator=g)
    fake_batches = minibatches(fake_train, batch_size, generator=g)

    def step(_: int):
        real, fake = next(real_batches), next(fake_batches)
        n = min(len(real), len(fake))
        real, fake = real[:n], fake[:n]
        loss = wasserstein_critic_loss(critic(real), critic(fake)) + gp_weight * gradient_penalty(critic, real, fake)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"critic_loss": loss.detach()}

    train_loop(step, n_steps, desc="independent critic", log_every=max(1, n_steps // 50),
               state={"critic": critic, "optimizer": optimizer, "real_batches": real_batches,
                      "fake_batches": fake_batches})
    with torch.no_grad():
        return float(-(critic(real_test).mean() - critic(fake_test).mean()))


def sample_diversity(x: torch.Tensor, max_pairs: int = 10_000, seed: int = 0) -> float:
    """Mean Euclidean distance between random pairs of distinct examples of ``x``.

    Read it against the same number for held-out data: much lower means mode collapse,
    much higher means noise (the role of 1 - MS-SSIM in the paper's Fig. 7).
    """
    if not torch.is_tensor(x) or x.dim() < 2 or x.shape[0] < 2:
        raise ValueError("x must be a batch with at least 2 examples")
    g = torch.Generator().manual_seed(seed)
    n = x.shape[0]
    i = torch.randint(n, (max_pairs,), generator=g)
    j = (i + torch.randint(1, n, (max_pairs,), generator=g)) % n  # j != i
    flat = x.flatten(1).cpu()
    return float((flat[i] - flat[j]).norm(dim=1).mean())


# ----------------------------------------------------------------------------------------
# What the paper's Figs. 4, 23 and 24 track: bound estimates of hybrids along training
# ----------------------------------------------------------------------------------------


def _check_batch(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return check_tensor(x, "x", shape=(None, *model.shape))


@torch.no_grad()
def aae_bound_estimates(model: VAEGANHybrid, x: torch.Tensor) -> Dict[str, float]:
    """The AAE's "ELBO" as its own classifier reports it, beside the true ELBO of the same model.

    The AAE has a Bernoulli decoder and a Gaussian posterior, so its ELBO
    ``E_q[log p(x|z)] - KL[q(z|x) || p(z)]`` is computable in closed form. A hybrid that
    replaces the KL by its code discriminator can only report ``E_q[log p(x|z)] - KL_hat``
    with ``KL_hat = E_q[-logit C(z)]``, the density-ratio estimate of the *marginal* KL
    (C labels prior codes real, so ``logit C`` estimates ``log p(z) / q(z)``). Since the
    average KL is the marginal KL plus the information (eq. 5), and the classifier
    underestimates even the marginal KL, the reported number sits above the true bound.

    Returns:
        ``{"reported": ..., "elbo": ..., "reconstruction": ..., "average_kl": ..., "kl_estimate": ...}``
        (batch means, nats per example).
    """
    if not isinstance(model, VAEGANHybrid) or model.kind != "aae":
        raise ValueError("model must be a VAEGANHybrid of kind 'aae' (the only hybrid with a likelihood)")
    x = _check_batch(model, x).to(model._device())
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    reconstruction = -F.binary_cross_entropy_with_logits(model.decode_logits(z), x, reduction="none").flatten(1).sum(1)
    average_kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
    kl_estimate = -model.code_logits(z)
    return {
        "reported": float((reconstruction - kl_estimate).mean()),
        "elbo": float((reconstruction - average_kl).mean()),
        "reconstruction": float(reconstruction.mean()),
        "average_kl": float(average_kl.mean()),
        "kl_estimate": float(kl_estimate.mean()),
    }


def _check_model_args(shape: Sequence[int], latent_dim: int, hidden: int, n_layers: int) -> Tuple[int, ...]:
    shape = check_shape(shape)
    for name, value in (("latent_dim", latent_dim), ("hidden", hidden), ("n_layers", n_layers)):
        check_positive_int(value, name)
    return shape


def _adam(params: Iterable[nn.Parameter], lr: float) -> torch.optim.Optimizer:
    check_positive(lr, "lr")
    return adam(params, lr=lr, betas=(0.5, 0.9))


class AdversarialVB(nn.Module):
    """Adversarial variational Bayes (Mescheder et al. 2017) without adaptive contrast.

    The encoder is implicit, ``z = E(x, eps)`` with ``eps ~ N(0, I)``, so ``log q(z|x)`` has
    no formula; a discriminator ``T(x, z)`` learns to tell ``(x, z ~ q(z|x))`` (label 1) from
    ``(x, z ~ p(z))`` (label 0), and at its optimum ``T = log q(z|x) - log p(z)``. The ELBO is
    then *estimated* as ``E_q[log p(x|z) - T(x, z)]``: a number that is a bound only when T is
    optimal. Bernoulli decoder; data in [0, 1].

    Args:
        shape: shape of one example; latent_dim: dimension of z; hidden, n_layers: every MLP.
    """

    def __init__(self, shape: Sequence[int], latent_dim: int, hidden: int = 128, n_layers: int = 2) -> None:
        super().__init__()
        self.shape = _check_model_args(shape, latent_dim, hidden, n_layers)
        self.latent_dim = latent_dim
        n = math.prod(self.shape)
        self.encoder = MLP(n + latent_dim, latent_dim, hidden, n_layers)
        self.decoder = MLP(latent_dim, n, hidden, n_layers)
        self.discriminator = MLP(n + latent_dim, 1, hidden, n_layers, activation="leaky_relu")

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """One draw ``z ~ q(z|x)`` per row of ``x``."""
        x = _check_batch(self, x)
        flat = x.flatten(1)
        return self.encoder(torch.cat([flat, torch.randn(len(x), self.latent_dim, device=x.device)], 1))

    def log_ratio(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``T(x, z)``, the estimate of ``log q(z|x) - log p(z)``, shape ``(batch,)``."""
        return self.discriminator(torch.cat([x.flatten(1), z], 1)).squeeze(-1)

    def optimizers(self, lr: float = 5e-4) -> Dict[str, torch.optim.Optimizer]:
        """Adam(0.5, 0.9) for the encoder-decoder pair and for the discriminator."""
        return {"model": _adam(list(self.encoder.parameters()) + list(self.decoder.parameters()), lr),
                "discriminator": _adam(self.discriminator.parameters(), lr)}

    def _terms(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        reconstruction = -F.binary_cross_entropy_with_logits(self.decoder(z), x.flatten(1), reduction="none").sum(1)
        return z, reconstruction, self.log_ratio(x, z)

    def train_step(self, x: torch.Tensor, optimizers: Dict[str, torch.optim.Optimizer]) -> Dict[str, torch.Tensor]:
        """One step: the encoder and decoder ascend the estimated ELBO, then T takes a logistic step."""
        _, reconstruction, ratio = self._terms(x)
        loss = -(reconstruction - ratio).mean()
        optimizers["model"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["model"].step()
        with torch.no_grad():
            z_q, z_p = self.encode(x), torch.randn(len(x), self.latent_dim, device=x.device)
        disc_loss = discriminator_loss(self.log_ratio(x, z_q), self.log_ratio(x, z_p))
        optimizers["discriminator"].zero_grad(set_to_none=True)
        disc_loss.backward()
        optimizers["discriminator"].step()
        return {"reported_elbo": -loss.detach(), "discriminator": disc_loss.detach()}

    @torch.no_grad()
    def bound_estimates(self, x: torch.Tensor) -> Dict[str, float]:
        """``{"reported": E[log p(x|z) - T], "reconstruction": ..., "kl_estimate": E[T]}`` on ``x``."""
        x = _check_batch(self, x).to(self._device())
        _, reconstruction, ratio = self._terms(x)
        return {"reported": float((reconstruction - ratio).mean()), "reconstruction": float(reconstruction.mean()),
                "kl_estimate": float(ratio.mean())}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` mean images ``sigmoid(decoder(z))``, z ~ N(0, I)."""
        check_positive_int(n, "n")
        z = torch.randn(n, self.latent_dim, device=self._device())
        return torch.sigmoid(self.decoder(z)).view(n, *self.shape)


class VEEGAN(nn.Module):
    """VEEGAN (Srivastava et al. 2017): a GAN with a reconstructor and a joint discriminator.

    A generator ``G(z)`` (images in [0, 1]), a reconstructor ``F(x)`` that maps images back to
    codes, and a discriminator ``D(z, x)`` that tells the generator's joint ``(z, G(z))``,
    ``z ~ p(z)`` (label 1), from the reconstructor's ``(F(x), x)``, ``x ~ data`` (label 0).
    G and F minimise the paper's objective

        O = E_z[logit D(z, G(z))] + E_z ||z - F(G(z))||^2,

    the density-ratio estimate of KL[p(z) p(x|z) || p(x) q(z|x)] plus the code
    reconstruction (the l2 form, a Gaussian reconstructor); ``-O`` is what the paper's
    Fig. 23 tracks as VEEGAN's bound along training.

    Args:
        shape, latent_dim, hidden, n_layers: as for :class:`AdversarialVB`.
    """

    def __init__(self, shape: Sequence[int], latent_dim: int, hidden: int = 128, n_layers: int = 2) -> None:
        super().__init__()
        self.shape = _check_model_args(shape, latent_dim, hidden, n_layers)
        self.latent_dim = latent_dim
        n = math.prod(self.shape)
        self.generator = MLP(latent_dim, n, hidden, n_layers, out_activation="sigmoid")
        self.reconstructor = MLP(n, latent_dim, hidden, n_layers)
        self.discriminator = MLP(n + latent_dim, 1, hidden, n_layers, activation="leaky_relu")

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def joint_logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``logit D(z, x)``, shape ``(batch,)``."""
        return self.discriminator(torch.cat([x.flatten(1), z], 1)).squeeze(-1)

    def optimizers(self, lr: float = 5e-4, disc_lr: Optional[float] = None) -> Dict[str, torch.optim.Optimizer]:
        """Adam(0.5, 0.9) for generator and reconstructor together (``lr``), and for the
        discriminator (``disc_lr``, default ``lr``; the paper's sweep gives it a tenth of ``lr``)."""
        return {"model": _adam(list(self.generator.parameters()) + list(self.reconstructor.parameters()), lr),
                "discriminator": _adam(self.discriminator.parameters(), lr if disc_lr is None else disc_lr)}

    def _objective(self, n: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.latent_dim, device=self._device())
        x_fake = self.generator(z)
        kl_estimate = self.joint_logits(z, x_fake)
        code_error = (z - self.reconstructor(x_fake)).pow(2).sum(1)
        return z, x_fake, kl_estimate, code_error

    def train_step(self, x: torch.Tensor, optimizers: Dict[str, torch.optim.Optimizer]) -> Dict[str, torch.Tensor]:
        """One step of Alg. 1 of VEEGAN: G and F descend O, then D takes a logistic step."""
        x = _check_batch(self, x)
        z, x_fake, kl_estimate, code_error = self._objective(len(x))
        objective = (kl_estimate + code_error).mean()
        optimizers["model"].zero_grad(set_to_none=True)
        objective.backward()
        optimizers["model"].step()
        with torch.no_grad():
            z_data = self.reconstructor(x.flatten(1))
        disc_loss = discriminator_loss(self.joint_logits(z, x_fake.detach()), self.joint_logits(z_data, x))
        optimizers["discriminator"].zero_grad(set_to_none=True)
        disc_loss.backward()
        optimizers["discriminator"].step()
        return {"objective": objective.detach(), "discriminator": disc_loss.detach()}

    @torch.no_grad()
    def bound_estimates(self, x: torch.Tensor) -> Dict[str, float]:
        """``{"reported": -O, "kl_estimate": ..., "code_error": ...}`` from ``len(x)`` prior draws."""
        x = _check_batch(self, x)
        _, _, kl_estimate, code_error = self._objective(len(x))
        return {"reported": float(-(kl_estimate + code_error).mean()), "kl_estimate": float(kl_estimate.mean()),
                "code_error": float(code_error.mean())}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """``n`` images ``G(z)``, z ~ N(0, I)."""
        check_positive_int(n, "n")
        return self.generator(torch.randn(n, self.latent_dim, device=self._device())).view(n, *self.shape)
