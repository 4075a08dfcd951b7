"""Sec. 3.3 / 4.2 of the implicit-MLE chapter: sequences of audio chunks with an HMM base.

* ``implicit_mle/audio_hmm`` — an autoencoder on overlapping windows of audio and an HMM
  base on the code sequences, against a GMM base that ignores their order; generation by
  overlap-add, scored by the note transitions of the generated audio.

Every seed is one independent run (its own melody, autoencoder and two bases), a job of
:func:`companion.workers.map_in_workers` that seeds itself, so the numbers do not depend on the
number of workers. Within a seed the two bases share the data and the autoencoder, so the
comparisons of :data:`AUDIO_CLAIMS`, stated before any run, pair them by seed
(:func:`audio_claims`). The figure and the audio show the first seed's run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Dict, List, Mapping, NamedTuple, Sequence, Tuple

import numpy as np
import torch

import companion
from companion.checks import check_positive_int
from companion.config import ExperimentConfig
from companion.evidence import VERDICTS, bootstrap_difference, compare_phrase, summarize, too_few_runs, verdict
from companion.iml import Autoencoder, GMMBase, HMMBase, TwoStageModel
from companion.plots import set_style
from companion.reproduce import register
from companion.workers import map_in_workers

if TYPE_CHECKING:  # for the annotations only: importing this module does not import matplotlib
    from matplotlib.figure import Figure


@dataclass
class AudioHMMConfig(ExperimentConfig):
    """An autoencoder on Hann-windowed chunks of a Markov-chain melody, with an HMM (or GMM) base.

    The notes are harmonic tones whose fundamentals are multiples of ``sample_rate / hop``,
    so every chunk of a held note starts at the same phase. At ``paper`` scale the chunks
    have the paper's sizes (100 ms windows, 50 ms hop at 8 kHz, 80-dimensional codes, a
    300-state HMM); the free spoken digit dataset is not bundled, so the melody stands in.
    """

    sample_rate: int = 8000
    window: int = 256  # samples per chunk; consecutive chunks overlap by half
    pitch_multiples: Tuple[int, ...] = (4, 5, 6, 7, 8)  # fundamentals in units of sample_rate / hop
    note_hops: Tuple[int, ...] = (6, 12)  # a note lasts one of these numbers of hops
    train_seconds: float = 40.0
    test_seconds: float = 10.0
    generate_seconds: float = 10.0
    seq_len: int = 50  # chunks per training sequence of the base
    latent_dim: int = 8
    hidden: int = 256
    ae_steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    n_states: int = 20
    hmm_iter: int = 30
    n_seeds: int = 10  # independent runs (melody, autoencoder, both bases); a seed costs seconds
    seed: int = 0  # the first seed; the others follow it
    SCALES: ClassVar = {
        "smoke": {"train_seconds": 6.0, "test_seconds": 2.0, "generate_seconds": 3.0, "ae_steps": 100,
                  "n_states": 10, "hmm_iter": 10, "hidden": 128, "n_seeds": 3},
        "paper": {"window": 800, "pitch_multiples": (12, 15, 18, 21, 24), "note_hops": (2, 4),
                  "train_seconds": 120.0, "latent_dim": 80, "hidden": 1024, "ae_steps": 20_000,
                  "n_states": 300, "hmm_iter": 50, "n_seeds": 5},
    }


@dataclass
class AudioHMMResult:
    """The first seed's audio and transition matrices (for the figure), every seed's numbers, the claims."""

    sample_rate: int
    train_audio: np.ndarray  # the first seed's
    generated: Dict[str, np.ndarray]  # "HMM" / "GMM" -> the first seed's waveform
    transitions: Dict[str, np.ndarray]  # "data" / "HMM" / "GMM" -> the first seed's note-transition matrix
    metrics: Dict = field(default_factory=dict)
    runs: Dict[str, Dict[str, List[float]]] = field(default_factory=dict)  # quantity -> arm -> one value a seed


class AudioClaim(NamedTuple):
    """A comparison the chapter makes: ``a`` against ``b`` on ``quantity`` (a key of the runs), read as ``reading``.

    ``reading`` is ``"higher"`` or ``"lower"`` (the claim: ``a`` is higher / lower than ``b``) or
    ``"equal"`` (the claim: ``a`` is as large as ``b``, which an interval can refute but not prove).
    """

    key: str
    statement: str
    quantity: str
    a: str
    b: str
    reading: str


#: The claims of the audio experiment, stated before any run and all computed (paired by seed).
AUDIO_CLAIMS: Tuple[AudioClaim, ...] = (
    AudioClaim("transitions", "the HMM's samples follow the data's note transitions more closely than the GMM's",
               "transition_tv", "HMM", "GMM", "lower"),
    AudioClaim("notes_as_long_as_data", "the HMM's notes last as long as the data's",
               "mean_note_length_frames", "HMM", "data", "equal"),
    AudioClaim("notes_longer_than_gmm", "the HMM's notes last longer than the GMM's",
               "mean_note_length_frames", "HMM", "GMM", "higher"),
    AudioClaim("code_log_lik", "the HMM gives the held-out code sequence a higher log-likelihood per chunk code "
               "than the GMM", "test_code_log_lik_per_frame", "HMM", "GMM", "higher"),
)
#: How each arm is named in a claim's phrase.
ARM_NAMES = {"HMM": "the HMM base", "GMM": "the GMM base", "data": "the training audio"}


#: The note-to-note transition matrix of the melody: mostly up one step, sometimes two, rarely down.
MELODY_TRANSITIONS = np.array([
    [0.0, 0.7, 0.2, 0.0, 0.1],
    [0.1, 0.0, 0.7, 0.2, 0.0],
    [0.0, 0.1, 0.0, 0.7, 0.2],
    [0.2, 0.0, 0.1, 0.0, 0.7],
    [0.7, 0.2, 0.0, 0.1, 0.0],
])


def markov_melody(seconds: float, cfg: AudioHMMConfig, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """A melody of harmonic notes following :data:`MELODY_TRANSITIONS`; returns the waveform and the note per sample."""
    n_notes = len(cfg.pitch_multiples)
    if MELODY_TRANSITIONS.shape[0] != n_notes:
        raise ValueError(f"the melody has {MELODY_TRANSITIONS.shape[0]} notes; pitch_multiples has {n_notes}")
    hop = cfg.window // 2
    unit = cfg.sample_rate / hop
    total = int(seconds * cfg.sample_rate)
    audio, notes = np.zeros(total), np.zeros(total, dtype=int)
    pos, note = 0, int(rng.integers(n_notes))
    while pos < total:
        length = int(rng.choice(cfg.note_hops)) * hop
        t = np.arange(length) / cfg.sample_rate
        f0 = cfg.pitch_multiples[note] * unit
        tone = sum(0.5 ** k * np.sin(2 * np.pi * (k + 1) * f0 * t) for k in range(4))
        envelope = np.minimum(1.0, t / 0.01) * np.exp(-3.0 * t)  # 10 ms attack, then decay
        end = min(total, pos + length)
        audio[pos:end] = (0.3 * envelope * tone)[: end - pos]
        notes[pos:end] = note
        pos, note = end, int(rng.choice(n_notes, p=MELODY_TRANSITIONS[note]))
    return audio, notes


def _frames(audio: np.ndarray, window: int) -> np.ndarray:
    """Hann-windowed chunks with 50% overlap (a periodic Hann window sums to one at this hop)."""
    hop = window // 2
    hann = np.hanning(window + 1)[:-1]
    n = (len(audio) - window) // hop + 1
    return np.stack([hann * audio[i * hop: i * hop + window] for i in range(n)])


def overlap_add(frames: np.ndarray) -> np.ndarray:
    """The waveform whose 50%-overlapping Hann-windowed chunks are ``frames`` (n, window)."""
    n, window = frames.shape
    hop = window // 2
    out = np.zeros((n - 1) * hop + window)
    for i, frame in enumerate(frames):
        out[i * hop: i * hop + window] += frame
    return out


def _classify_notes(frames: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """The note of each frame: the template spectrum with the largest cosine similarity."""
    spectra = np.abs(np.fft.rfft(frames, axis=1))
    spectra /= np.linalg.norm(spectra, axis=1, keepdims=True) + 1e-12
    return np.argmax(spectra @ templates.T, axis=1)


def note_transition_matrix(notes: np.ndarray, n_notes: int) -> np.ndarray:
    """Row-normalised counts of changes between consecutive *different* notes of a frame sequence."""
    changes = notes[np.flatnonzero(np.diff(notes)) + 1]
    starts = np.concatenate([[notes[0]], changes])
    counts = np.zeros((n_notes, n_notes))
    for a, b in zip(starts[:-1], starts[1:]):
        counts[a, b] += 1
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)


def _mean_run_length(notes: np.ndarray) -> float:
    return float(len(notes) / (1 + np.count_nonzero(np.diff(notes))))


def plot_audio_hmm(result: AudioHMMResult) -> Figure:
    """Spectrograms of training and generated audio (top); note-transition matrices (bottom): the first seed's."""
    import matplotlib.pyplot as plt

    set_style()
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    n = min(len(result.train_audio), 4 * result.sample_rate, *(len(g) for g in result.generated.values()))  # 4 s
    for ax, (name, audio) in zip(axes[0], [("training audio", result.train_audio)] + [
            (f"generated, {k} base", v) for k, v in result.generated.items()]):
        ax.specgram(audio[:n], NFFT=256, Fs=result.sample_rate, noverlap=192, cmap="magma")
        ax.set_ylim(0, 2000)
        ax.set_title(name)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        ax.grid(False)
    for ax, (name, matrix) in zip(axes[1], result.transitions.items()):
        ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="white" if v > 0.5 else "black")
        label = "training audio" if name == "data" else f"{name} base"
        tv = result.runs.get("transition_tv", {}).get(name, [None])[0]  # the first seed's, as the matrices
        ax.set_title(f"note transitions, {label}" + (f"\nTV to data = {tv:.2f}" if tv is not None else ""))
        ax.set_xlabel("next note")
        ax.set_ylabel("note")
        ax.grid(False)
    fig.tight_layout()
    return fig


def _note_templates(frames: np.ndarray, frame_notes: np.ndarray, n_notes: int) -> np.ndarray:
    """The mean normalised spectrum of the frames of each note, normalised: one template per note."""
    spectra = np.abs(np.fft.rfft(frames, axis=1))
    spectra /= np.linalg.norm(spectra, axis=1, keepdims=True) + 1e-12
    templates = np.stack([spectra[frame_notes == k].mean(0) for k in range(n_notes)])
    return templates / np.linalg.norm(templates, axis=1, keepdims=True)


def _fit_hmm_and_gmm(cfg: AudioHMMConfig, frames: np.ndarray, dev: torch.device, seed: int):
    """Stage 1 once on sequences of ``seq_len`` frames; an HMM base on the code sequences, and the
    same autoencoder with an order-blind mixture as the base (both initialised from ``seed``)."""
    n_seq = len(frames) // cfg.seq_len
    x = torch.tensor(frames[: n_seq * cfg.seq_len], dtype=torch.float32, device=dev).reshape(
        n_seq, cfg.seq_len, cfg.window
    )
    autoencoder = Autoencoder((cfg.window,), cfg.latent_dim, hidden=(cfg.hidden,), output="linear")
    hmm_model = TwoStageModel(autoencoder, HMMBase(cfg.n_states, n_iter=cfg.hmm_iter, random_state=seed)).to(dev)
    hmm_model.fit(x, n_steps=cfg.ae_steps, batch_size=cfg.batch_size, lr=cfg.lr, progress=False)
    gmm_model = TwoStageModel(autoencoder, GMMBase(cfg.n_states, covariance_type="diag", random_state=seed))
    gmm_model.fit_base(x.reshape(-1, cfg.window))
    return hmm_model, gmm_model


def _one_seed(cfg: AudioHMMConfig, seed: int, keep_audio: bool) -> Dict:
    """One run: a melody, the autoencoder, an HMM and a GMM base on its codes, their samples scored.

    Returns the run's numbers as ``values[quantity][arm]`` and its seconds (wall clock, in a worker);
    with ``keep_audio`` also the training audio, the generated waveforms and the transition matrices.
    """
    start = time.perf_counter()
    companion.seed_everything(seed)
    dev = companion.device()
    rng = np.random.default_rng(seed)
    n_notes = len(cfg.pitch_multiples)
    train_audio, train_notes = markov_melody(cfg.train_seconds, cfg, rng)
    test_audio, _ = markov_melody(cfg.test_seconds, cfg, rng)
    hop = cfg.window // 2
    frames = _frames(train_audio, cfg.window)
    frame_notes = train_notes[np.arange(len(frames)) * hop + cfg.window // 2]
    test_frames = _frames(test_audio, cfg.window)
    x_test = torch.tensor(test_frames, dtype=torch.float32, device=dev)[None]  # one long test sequence
    hmm_model, gmm_model = _fit_hmm_and_gmm(cfg, frames, dev, seed)

    n_frames = int(cfg.generate_seconds * cfg.sample_rate) // hop
    with torch.no_grad():
        generated_frames = {
            "HMM": hmm_model.sample(1, length=n_frames)[0].cpu().numpy(),
            "GMM": gmm_model.sample(n_frames).cpu().numpy(),
        }
        codes_test = hmm_model.encode_data(x_test)
        ll_hmm = float(hmm_model.base.log_prob(codes_test)[0]) / codes_test.shape[1]
        ll_gmm = float(gmm_model.base.log_prob(codes_test[0]).mean())
        recon = hmm_model.autoencoder(x_test[0]).cpu().numpy()
    templates = _note_templates(frames, frame_notes, n_notes)
    data_notes = _classify_notes(frames, templates)
    transitions = {"data": note_transition_matrix(data_notes, n_notes)}
    lengths = {"data": _mean_run_length(data_notes)}
    generated = {}
    for name, fr in generated_frames.items():
        notes = _classify_notes(fr, templates)
        transitions[name] = note_transition_matrix(notes, n_notes)
        lengths[name] = _mean_run_length(notes)
        generated[name] = overlap_add(fr)
    values = {
        "transition_tv": {name: float(0.5 * np.abs(transitions[name] - transitions["data"]).sum(1).mean())
                          for name in ("HMM", "GMM")},
        "mean_note_length_frames": lengths,
        "test_code_log_lik_per_frame": {"HMM": ll_hmm, "GMM": ll_gmm},
        "note_classifier_accuracy_on_training_frames": {"data": float((data_notes == frame_notes).mean())},
        "test_reconstruction_snr_db": {
            "autoencoder": float(10 * np.log10((test_frames**2).sum() / ((recon - test_frames) ** 2).sum()))},
    }
    out = {"values": values, "seconds": time.perf_counter() - start}
    if keep_audio:
        out.update(train_audio=train_audio[: len(generated["HMM"])], generated=generated, transitions=transitions)
    return out


def audio_claims(runs: Mapping[str, Mapping[str, Sequence[float]]]) -> Dict[str, Dict]:
    """Every claim of :data:`AUDIO_CLAIMS`, with its verdict from the paired bootstrap interval.

    Args:
        runs: ``runs[quantity][arm]``, one value per seed, the same seeds in the same order for
            every arm (the two bases of a seed share its data and autoencoder: the claims pair them).

    Returns:
        For each claim's ``key``: ``statement``, ``verdict`` (one of
        :data:`companion.evidence.VERDICTS`), ``phrase`` (:func:`companion.evidence.compare_phrase`)
        and ``difference`` (``estimate``, ``low``, ``high``: the 95% interval of the mean per-seed
        ``a - b``). A ``"lower"`` or ``"higher"`` claim holds when the whole interval lies on its side
        of zero and does not hold when it lies on the other. An ``"equal"`` claim does not hold when
        the interval excludes zero; otherwise the verdict is "cannot tell at this budget", since an
        interval around zero does not show that two means are equal. Fewer than
        :data:`companion.evidence.MIN_SEEDS_FOR_PAIRED_VERDICT` seeds give "cannot tell" throughout.

    Raises:
        TypeError: if ``runs`` is not a mapping of mappings.
        ValueError: if a claim's quantity or arm is missing, or its two arms have different numbers of seeds.
    """
    if not isinstance(runs, Mapping) or not all(isinstance(v, Mapping) for v in runs.values()):
        raise TypeError(f"runs must map each quantity to a mapping of arms; got {type(runs).__name__}")
    claims: Dict[str, Dict] = {}
    for claim in AUDIO_CLAIMS:
        arms = runs.get(claim.quantity, {})
        missing = [arm for arm in (claim.a, claim.b) if arm not in arms]
        if missing:
            raise ValueError(f"runs[{claim.quantity!r}] must hold the arms {claim.a!r} and {claim.b!r}; "
                             f"missing {missing}")
        a, b = list(arms[claim.a]), list(arms[claim.b])
        if len(a) != len(b):
            raise ValueError(f"runs[{claim.quantity!r}] needs one value of each arm a seed; got {len(a)} and {len(b)}")
        diff = bootstrap_difference(a, b, paired=True)
        if claim.reading == "equal":
            apart = not too_few_runs(a, b, paired=True) and not diff.low <= 0.0 <= diff.high
            word = VERDICTS[1] if apart else VERDICTS[2]
        else:
            word = verdict(a, b, higher_is_better=claim.reading == "higher", paired=True)
        phrase = compare_phrase(ARM_NAMES[claim.a], a, ARM_NAMES[claim.b], b,
                                higher_is_better=claim.reading != "lower", paired=True)
        claims[claim.key] = {"statement": claim.statement, "verdict": word, "phrase": phrase,
                             "difference": {"estimate": diff.estimate, "low": diff.low, "high": diff.high}}
    return claims


@register("implicit_mle/audio_hmm", config=AudioHMMConfig, plot=plot_audio_hmm,
          description="Sec. 3.3/4.2: autoencoder on audio chunks, HMM base vs GMM base, overlap-add generation")
def run_audio_hmm(cfg: AudioHMMConfig) -> AudioHMMResult:
    """``cfg.n_seeds`` independent runs (seeds ``cfg.seed``, ``cfg.seed + 1``, ...): per seed a melody, the
    chunk autoencoder, an HMM and a GMM base on its codes, their samples generated and compared.

    ``runs`` holds every seed's numbers; ``metrics`` their summaries (``mean``, ``std``, ``n``) under
    the same keys, the claims of :func:`audio_claims`, ``n_seeds`` and the seconds per seed (wall
    clock, in a worker). The audio and transition matrices in the result are the first seed's.
    """
    check_positive_int(cfg.n_seeds, "n_seeds")
    seeds = [cfg.seed + j for j in range(cfg.n_seeds)]
    per_seed = map_in_workers(lambda seed, keep: _one_seed(cfg, seed, keep), [(s, j == 0) for j, s in enumerate(seeds)])
    first = per_seed[0]["values"]
    runs = {q: {arm: [one["values"][q][arm] for one in per_seed] for arm in arms} for q, arms in first.items()}
    metrics = {
        **{q: {arm: vars(summarize(values)) for arm, values in arms.items()} for q, arms in runs.items()},
        "claims": audio_claims(runs),
        "n_seeds": cfg.n_seeds,
        "seconds_per_seed": [one["seconds"] for one in per_seed],
        "true_transitions": MELODY_TRANSITIONS.tolist(),
    }
    keep = per_seed[0]
    return AudioHMMResult(cfg.sample_rate, keep["train_audio"], keep["generated"], keep["transitions"], metrics, runs)
