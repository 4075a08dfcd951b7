"""Sec. 3.3 / 4.2 of the implicit-MLE chapter: sequences of audio chunks with an HMM base.

* ``implicit_mle/audio_hmm`` — an autoencoder on overlapping windows of audio and an HMM
  base on the code sequences, against a GMM base that ignores their order; generation by
  overlap-add, scored by the note transitions of the generated audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Dict, Tuple

import numpy as np
import torch

import companion
from companion.config import ExperimentConfig
from companion.reproduce import register


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
    seed: int = 0
    SCALES: ClassVar = {
        "smoke": {"train_seconds": 6.0, "test_seconds": 2.0, "generate_seconds": 3.0, "ae_steps": 100,
                  "n_states": 10, "hmm_iter": 10, "hidden": 128},
        "paper": {"window": 800, "pitch_multiples": (12, 15, 18, 21, 24), "note_hops": (2, 4),
                  "train_seconds": 120.0, "latent_dim": 80, "hidden": 1024, "ae_steps": 20_000,
                  "n_states": 300, "hmm_iter": 50},
    }


@dataclass
class AudioHMMResult:
    sample_rate: int
    train_audio: np.ndarray
    generated: Dict[str, np.ndarray]  # "HMM" / "GMM" -> waveform
    transitions: Dict[str, np.ndarray]  # "data" / "HMM" / "GMM" -> note-transition matrix
    metrics: Dict = field(default_factory=dict)


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


def plot_audio_hmm(result: AudioHMMResult):
    """Spectrograms of training and generated audio (top); note-transition matrices (bottom)."""
    import matplotlib.pyplot as plt

    from companion.plots import set_style

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
        tv = result.metrics.get("transition_tv", {}).get(name)
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


def _fit_hmm_and_gmm(cfg: AudioHMMConfig, frames: np.ndarray, dev: torch.device):
    """Stage 1 once on sequences of ``seq_len`` frames; an HMM base on the code sequences, and the
    same autoencoder with an order-blind mixture as the base."""
    from companion.iml import Autoencoder, GMMBase, HMMBase, TwoStageModel

    n_seq = len(frames) // cfg.seq_len
    x = torch.tensor(frames[: n_seq * cfg.seq_len], dtype=torch.float32, device=dev).reshape(
        n_seq, cfg.seq_len, cfg.window
    )
    autoencoder = Autoencoder((cfg.window,), cfg.latent_dim, hidden=(cfg.hidden,), output="linear")
    hmm_model = TwoStageModel(autoencoder, HMMBase(cfg.n_states, n_iter=cfg.hmm_iter, random_state=cfg.seed)).to(dev)
    hmm_model.fit(x, n_steps=cfg.ae_steps, batch_size=cfg.batch_size, lr=cfg.lr)
    gmm_model = TwoStageModel(autoencoder, GMMBase(cfg.n_states, covariance_type="diag", random_state=cfg.seed))
    gmm_model.fit_base(x.reshape(-1, cfg.window))
    return hmm_model, gmm_model


@register("implicit_mle/audio_hmm", config=AudioHMMConfig, plot=plot_audio_hmm,
          description="Sec. 3.3/4.2: autoencoder on audio chunks, HMM base vs GMM base, overlap-add generation")
def run_audio_hmm(cfg: AudioHMMConfig) -> AudioHMMResult:
    """Fit the chunk autoencoder once; fit an HMM and a GMM base on its codes; generate and compare."""
    companion.seed_everything(cfg.seed)
    dev = companion.device()
    rng = np.random.default_rng(cfg.seed)
    n_notes = len(cfg.pitch_multiples)
    train_audio, train_notes = markov_melody(cfg.train_seconds, cfg, rng)
    test_audio, _ = markov_melody(cfg.test_seconds, cfg, rng)
    hop = cfg.window // 2
    frames = _frames(train_audio, cfg.window)
    frame_notes = train_notes[np.arange(len(frames)) * hop + cfg.window // 2]
    test_frames = _frames(test_audio, cfg.window)
    x_test = torch.tensor(test_frames, dtype=torch.float32, device=dev)[None]  # one long test sequence
    hmm_model, gmm_model = _fit_hmm_and_gmm(cfg, frames, dev)

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
    runs = {"data": _mean_run_length(data_notes)}
    generated = {}
    for name, fr in generated_frames.items():
        notes = _classify_notes(fr, templates)
        transitions[name] = note_transition_matrix(notes, n_notes)
        runs[name] = _mean_run_length(notes)
        generated[name] = overlap_add(fr)
    tv = {name: float(0.5 * np.abs(transitions[name] - transitions["data"]).sum(1).mean()) for name in ("HMM", "GMM")}
    metrics = {
        "transition_tv": tv,
        "mean_note_length_frames": runs,
        "test_code_log_lik_per_frame": {"HMM": ll_hmm, "GMM": ll_gmm},
        "note_classifier_accuracy_on_training_frames": float((data_notes == frame_notes).mean()),
        "test_reconstruction_snr_db": float(10 * np.log10((test_frames**2).sum() / ((recon - test_frames) ** 2).sum())),
        "true_transitions": MELODY_TRANSITIONS.tolist(),
    }
    return AudioHMMResult(cfg.sample_rate, train_audio[: len(generated["HMM"])], generated, transitions, metrics)
