"""Sweeps of the comparison chapter's GAN baselines, made once while writing it (the build prints
them with :func:`sweep_table`, it does not rerun them; :mod:`companion.experiments.comparison` runs the chapter)."""

from __future__ import annotations

from typing import Dict

import numpy as np

#: Sweeps made once while writing the chapter (2026-12-03, CPU; the build prints them, it does not rerun them).
#: The ring GAN of ``comparison/mode_coverage``'s recipe trained longer, as 10 replicas
#: (:func:`companion.experiments.symmetric_toys._train_toy_replicas`, 2,500 samples per seed):
#: (generator width, discriminator width, lr) -> {generator step: ring modes of seeds 0..9}.
RING_GAN_SEED_RECORD = {
    (64, 32, 1e-3): {1000: (6, 5, 5, 6, 8, 6, 7, 8, 7, 7), 1500: (7, 7, 5, 7, 8, 8, 6, 8, 6, 7),
                     2000: (4, 6, 7, 6, 7, 6, 8, 8, 7, 7), 2500: (6, 6, 7, 8, 8, 8, 7, 8, 8, 5)},
}
#: The patches GAN with a small convolutional generator (an 8x8 map, stages of 32 and 16 channels; 8-dim noise),
#: ``gan_steps`` 1,500, batch 64: setting -> {generator step: its Fréchet distance over the VAE's of the same
#: seed, for seeds 0, 1, 2} (the bar: at most 2; ``None``: not run, the setting had already missed it).
PATCHES_GAN_SWEEP_RECORD = {
    "conv G, MLP D (2 x 128), lr 1e-3": {500: (4.08, 160.5, 3.40), 1000: (3.26, 4.81, 3.27),
                                         1500: (2.65, 5.12, 3.29)},
    "conv G, conv D (16, 32 channels), lr 1e-3": {500: (3.90, None, None), 1000: (4.06, None, None),
                                                  1500: (10.14, None, None)},
    "conv G, conv D (16, 32 channels), lr 2e-4": {500: (3.38, 5.26, 4.92), 1000: (4.29, 10.88, 4.26),
                                                  1500: (6.55, 6.06, 3.40)},
}


def sweep_table(record: Dict, higher_is_better: bool = True):
    """A recorded sweep (:data:`RING_GAN_SEED_RECORD`, :data:`PATCHES_GAN_SWEEP_RECORD`) as a pandas DataFrame:
    one row per setting and step, one column per seed, with the mean and the worst seed of those run."""
    import pandas as pd

    rows = []
    for setting, curve in record.items():
        for step, values in curve.items():
            done = [v for v in values if v is not None]
            rows.append({"setting": str(setting), "step": step, **{f"seed {j}": v for j, v in enumerate(values)},
                         "mean": float(np.mean(done)), "worst": (min if higher_is_better else max)(done)})
    return pd.DataFrame(rows).set_index(["setting", "step"])
