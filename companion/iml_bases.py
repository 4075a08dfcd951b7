"""The base distributions of two-stage implicit maximum likelihood: what stage 2 fits to the codes.

* :class:`GaussianBase`, the usual fixed ``N(0, I)`` (nothing to learn);
* :class:`GMMBase`, a Gaussian mixture fitted by EM (scikit-learn), differentiable in its input;
* :class:`HMMBase`, a hidden Markov model with Gaussian emissions for *sequences* of codes
  (hmmlearn).

The two-stage model that uses them is :mod:`companion.iml` (which re-exports these names).
Chapter: ``book/implicit_mle.md``.
"""

from __future__ import annotations

import logging
import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

import companion

from .checks import check_int, check_nonnegative, check_positive_int, check_tensor

__all__ = ["GMMBase", "GaussianBase", "HMMBase"]




class GaussianBase:
    """The usual fixed base: an isotropic standard normal ``N(0, I_K)``; ``fit`` learns nothing.

    It only records the dimension (and device) of the codes, so that it can stand in for a
    learned base in :class:`TwoStageModel`.
    """

    is_sequential = False
    log_prob_is_bound = False

    def __init__(self) -> None:
        self.dim: Optional[int] = None
        self.device = torch.device("cpu")

    def fit(self, codes: torch.Tensor) -> "GaussianBase":
        """Record the dimension of ``codes`` ``(N, K)``."""
        check_tensor(codes, "codes", shape=(None, None))
        self.dim, self.device = codes.shape[1], codes.device
        return self

    def _require_fit(self) -> int:
        if self.dim is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(codes) first")
        return self.dim

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """``log N(h; 0, I)`` per row of ``h`` ``(batch, K)``, in nats."""
        dim = self._require_fit()
        check_tensor(h, "h", shape=(None, None))
        if h.shape[1] != dim:
            raise ValueError(f"h must have shape (batch, {dim}); got {tuple(h.shape)}")
        return -0.5 * (h.pow(2).sum(1) + dim * math.log(2 * math.pi))

    def sample(self, n: int) -> torch.Tensor:
        """``n`` draws ``(n, K)``."""
        dim = self._require_fit()
        return torch.randn(check_positive_int(n, "n"), dim, device=self.device)


class GMMBase(GaussianBase):
    """A Gaussian mixture base fitted by EM (scikit-learn's ``GaussianMixture``).

    After ``fit`` the mixture is held as a ``torch.distributions`` object, so ``log_prob``
    is differentiable in ``h`` (which lets a map be trained through it, as in the 2-D
    example) and ``sample`` follows torch's seed.

    Args:
        n_components: the number of components.
        covariance_type: ``"full"``, ``"diag"``, ``"tied"`` or ``"spherical"``.
        reg_covar: added to the covariances' diagonals (keeps them invertible).
        max_iter: EM iterations.
        n_init: EM restarts (the best is kept).
        random_state: seed of EM's initialisation.
    """

    def __init__(
        self,
        n_components: int,
        covariance_type: str = "full",
        reg_covar: float = 1e-6,
        max_iter: int = 200,
        n_init: int = 1,
        random_state: Optional[int] = 0,
    ) -> None:
        super().__init__()
        self.n_components = check_positive_int(n_components, "n_components")
        if covariance_type not in ("full", "diag", "tied", "spherical"):
            raise ValueError(f"covariance_type must be 'full', 'diag', 'tied' or 'spherical'; got {covariance_type!r}")
        if not (isinstance(reg_covar, (int, float)) and reg_covar >= 0):
            raise ValueError(f"reg_covar must be a non-negative number; got {reg_covar!r}")
        self.covariance_type = covariance_type
        self.reg_covar = float(reg_covar)
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.n_init = check_positive_int(n_init, "n_init")
        self.random_state = random_state
        self.mixture = None  # the fitted sklearn model
        self.weights: Optional[torch.Tensor] = None
        self.means: Optional[torch.Tensor] = None
        self.covariances: Optional[torch.Tensor] = None  # (C, K, K) whatever the type

    def fit(self, codes: torch.Tensor, warm_start: bool = False) -> "GMMBase":
        """Fit the mixture to ``codes`` ``(N, K)`` by EM (``warm_start`` continues the last fit)."""
        from sklearn.mixture import GaussianMixture

        check_tensor(codes, "codes", shape=(None, None))
        if codes.shape[0] < self.n_components:
            raise ValueError(
                f"codes has {codes.shape[0]} rows; a {self.n_components}-component mixture needs at least as many"
            )
        data = codes.detach().cpu().double().numpy()
        if not (warm_start and self.mixture is not None):
            self.mixture = GaussianMixture(
                self.n_components, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                max_iter=self.max_iter, n_init=self.n_init, random_state=self.random_state,
                warm_start=warm_start,
            )
        with companion.blas_threads(1):  # EM's small products run faster on one BLAS thread
            self.mixture.fit(data)
        k = data.shape[1]
        cov = np.asarray(self.mixture.covariances_)
        if self.covariance_type == "diag":
            cov = np.stack([np.diag(c) for c in cov])
        elif self.covariance_type == "spherical":
            cov = np.stack([c * np.eye(k) for c in cov])
        elif self.covariance_type == "tied":
            cov = np.repeat(cov[None], self.n_components, axis=0)
        self.dim, self.device = k, codes.device
        self.weights = torch.as_tensor(self.mixture.weights_, dtype=codes.dtype, device=codes.device)
        self.means = torch.as_tensor(self.mixture.means_, dtype=codes.dtype, device=codes.device)
        self.covariances = torch.as_tensor(cov, dtype=codes.dtype, device=codes.device)
        self._scale_tril = torch.as_tensor(np.linalg.cholesky(cov), dtype=codes.dtype, device=codes.device)
        return self

    def distribution(self) -> torch.distributions.MixtureSameFamily:
        """The fitted mixture as a ``torch.distributions`` object."""
        self._require_fit()
        D = torch.distributions
        components = D.MultivariateNormal(self.means, scale_tril=self._scale_tril)
        return D.MixtureSameFamily(D.Categorical(probs=self.weights), components)

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """Mixture log-density per row of ``h`` ``(batch, K)`` (differentiable in ``h``)."""
        dim = self._require_fit()
        check_tensor(h, "h", shape=(None, None))
        if h.shape[1] != dim:
            raise ValueError(f"h must have shape (batch, {dim}); got {tuple(h.shape)}")
        dist = self.distribution()
        return dist.log_prob(h.to(self.means.dtype)).to(h.dtype)

    def sample(self, n: int, component: Optional[int] = None) -> torch.Tensor:
        """``n`` draws ``(n, K)``, from the whole mixture or from one ``component``."""
        self._require_fit()
        n = check_positive_int(n, "n")
        if component is None:
            return self.distribution().sample((n,))
        if check_int(component, "component", 0) >= self.n_components:
            raise ValueError(f"component must be an int in [0, {self.n_components}); got {component!r}")
        gauss = torch.distributions.MultivariateNormal(
            self.means[component], scale_tril=self._scale_tril[component]
        )
        return gauss.sample((n,))


class HMMBase:
    """A hidden Markov model with Gaussian emissions as the base of a *sequence* of codes.

    Wraps hmmlearn's ``GaussianHMM`` (fitted by Baum-Welch). Codes come as ``(S, T, K)``
    (``S`` sequences of ``T`` codes) or as a list of ``(T_i, K)`` tensors.

    Args:
        n_states: the number of hidden states.
        covariance_type: ``"diag"``, ``"full"``, ``"spherical"`` or ``"tied"``.
        n_iter: Baum-Welch iterations.
        random_state: seed of the initialisation.
        min_covar: added to the emission variances at initialisation (hmmlearn applies it
            there only; Baum-Welch may then shrink a variance below it).
        pseudo_count: a pseudo-count on each state's mean (towards the origin) and on each
            transition. Baum-Welch can empty a state (no code is assigned to it), and hmmlearn
            then leaves that state's mean undefined (0/0) and its transition row at zero, which
            breaks the next iteration; with the pseudo-count an emptied state gets the origin as
            its mean and a uniform transition row. Against the counts of a state that holds codes it
            is negligible (it can still change which way EM's rounding goes).
    """

    is_sequential = True
    log_prob_is_bound = False

    def __init__(
        self,
        n_states: int,
        covariance_type: str = "diag",
        n_iter: int = 50,
        random_state: Optional[int] = 0,
        min_covar: float = 1e-3,
        pseudo_count: float = 1e-6,
    ) -> None:
        self.n_states = check_positive_int(n_states, "n_states")
        if covariance_type not in ("full", "diag", "tied", "spherical"):
            raise ValueError(f"covariance_type must be 'full', 'diag', 'tied' or 'spherical'; got {covariance_type!r}")
        self.covariance_type = covariance_type
        self.n_iter = check_positive_int(n_iter, "n_iter")
        self.random_state = random_state
        self.min_covar = float(min_covar)
        self.pseudo_count = check_nonnegative(pseudo_count, "pseudo_count")
        self.hmm = None
        self.dim: Optional[int] = None
        self.device = torch.device("cpu")
        self.dtype = torch.float32

    @staticmethod
    def _as_sequences(
        codes: Union[torch.Tensor, Sequence[torch.Tensor]], name: str = "codes"
    ) -> List[torch.Tensor]:
        if torch.is_tensor(codes):
            check_tensor(codes, name, shape=(None, None, None))
            return list(codes)
        if not isinstance(codes, (list, tuple)) or not codes:
            raise TypeError(f"{name} must be a (S, T, K) tensor or a non-empty list of (T, K) tensors")
        for i, seq in enumerate(codes):
            check_tensor(seq, f"{name}[{i}]", shape=(None, None))
        if len({seq.shape[1] for seq in codes}) != 1:
            raise ValueError(f"every sequence in {name} must have the same code size K")
        return list(codes)

    def fit(self, codes: Union[torch.Tensor, Sequence[torch.Tensor]]) -> "HMMBase":
        """Fit the HMM to code sequences by Baum-Welch."""
        from hmmlearn.hmm import GaussianHMM

        seqs = self._as_sequences(codes)
        if sum(len(s) for s in seqs) < self.n_states:
            raise ValueError(f"the codes hold fewer frames than the {self.n_states} states")
        data = np.concatenate([s.detach().cpu().double().numpy() for s in seqs])
        lengths = [len(s) for s in seqs]
        self.hmm = GaussianHMM(
            n_components=self.n_states, covariance_type=self.covariance_type, n_iter=self.n_iter,
            random_state=self.random_state, min_covar=self.min_covar,
            means_weight=self.pseudo_count, transmat_prior=1.0 + self.pseudo_count,
        )
        # Near convergence Baum-Welch's log-likelihood can drop by rounding error, which
        # hmmlearn reports as "Model is not converging"; keep that noise out of the book.
        logger = logging.getLogger("hmmlearn.base")
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            self.hmm.fit(data, lengths)
        finally:
            logger.setLevel(level)
        self.dim, self.device, self.dtype = data.shape[1], seqs[0].device, seqs[0].dtype
        return self

    def _require_fit(self) -> int:
        if self.hmm is None:
            raise RuntimeError("HMMBase is not fitted yet: call fit(codes) first")
        return self.dim

    @property
    def transition_matrix(self) -> np.ndarray:
        """The fitted state-transition matrix ``A[i, j] = p(state_t+1 = j | state_t = i)``."""
        self._require_fit()
        return np.asarray(self.hmm.transmat_)

    def log_prob(self, codes: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        """Log-likelihood of each code sequence (forward algorithm), a tensor ``(S,)``."""
        dim = self._require_fit()
        seqs = self._as_sequences(codes)
        if seqs[0].shape[1] != dim:
            raise ValueError(f"codes must have K={dim} columns; got {seqs[0].shape[1]}")
        scores = [self.hmm.score(s.detach().cpu().double().numpy()) for s in seqs]
        return torch.tensor(scores, dtype=seqs[0].dtype, device=seqs[0].device)

    def sample(self, n: int, length: int = 20,
               return_states: bool = False) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """``n`` sequences of ``length`` codes, ``(n, length, K)`` (and their states ``(n, length)``)."""
        self._require_fit()
        n, length = check_positive_int(n, "n"), check_positive_int(length, "length")
        xs, zs = [], []
        for _ in range(n):
            seed = int(torch.randint(0, 2**31 - 1, ()).item())  # follows torch's seed
            x, z = self.hmm.sample(length, random_state=seed)
            xs.append(x)
            zs.append(z)
        codes = torch.as_tensor(np.stack(xs), dtype=self.dtype, device=self.device)
        if return_states:
            return codes, torch.as_tensor(np.stack(zs))
        return codes
