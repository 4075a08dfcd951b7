"""The paper-scale runs of ``symmetric_discriminators/mode_coverage``, as they ran.

The ``paper`` configuration (PacGAN's benchmark: widths 400/200, Adam(1e-4, beta1 0.8), batch
100, 20,000 generator steps, 10 seeds trained at once as replicas) is too slow for a CPU book
build, so the chapter shows the runs made once (``ring`` on a GPU, cut short, then on a CPU to the end;
``grid`` on a CPU; the thesis' setting on ``ring``, on a CPU, while it runs), recorded here seed by seed,
and computes their
summaries and bootstrap verdicts from the records with the same helpers as the book-scale run
(:func:`~companion.experiments.symmetric_mode_coverage._compare`). A record is the evaluations each
process printed to its log (and, for a run that finished, its JSON), copied without change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from companion.data import toy_centers
from companion.evidence import compare_phrase, format_spread, summarize
from companion.experiments.symmetric_mode_coverage import METHOD_NAMES, PACGAN_TABLE, RING_GAN_BAR, _compare
from companion.plots import pyplot

if TYPE_CHECKING:  # only for annotations: importing the module stays cheap
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["PAPER_GAN_BARS", "PAPER_GRID_RECORD", "PAPER_RING_CPU_RECORD", "PAPER_RING_RECORD",
           "PAPER_RING_THESIS_CPU_RECORD",
           "evaluations_compared_phrase", "gan_bar_met_from", "gan_bar_phrase", "last_comparison_phrase",
           "models_compared_phrase", "paper_record_comparisons", "paper_record_table", "plot_paper_record",
           "thesis_figure_reading",
           "run_rates", "verdicts_along"]

#: The modes the GAN must cover at ``paper`` scale, averaged over the seeds, before a batch GAN is
#: compared with it: on ``ring`` the book's bar (PacGAN's GAN: 6.3 of 8), on ``grid`` PacGAN's
#: GAN after its 20,000 steps (17.3 of 25, so 17).
PAPER_GAN_BARS = {"ring": RING_GAN_BAR, "grid": 17.0}


def _curve(modes: Dict[int, List[int]], high_quality_pct: Dict[int, List[float]]) -> Dict[int, Dict[str, List[float]]]:
    return {step: {"modes": [float(m) for m in modes[step]], "high_quality_pct": list(high_quality_pct[step])}
            for step in modes}


#: ``ring`` in PacGAN's setting at ``paper`` scale, on one NVIDIA H200 (torch 2.11.0+cu130),
#: 2026-12-04 18:40-18:49 UTC: ``bash benchmarks/device_checks.sh OUT ring`` with
#: ``METHODS="gan bgan mbgan" RUN_LIMIT_S=520``, each model in its own process (41-58 steps/s
#: each). The GAN finished its 20,000 steps; BGAN and M-BGAN were cut by the time limit at
#: about 17,700 steps (the lease ended before the checkpointed resume), so their last
#: evaluation is at step 15,000. ``curves``: method -> generator step -> per-seed ``modes``
#: (of 8) and ``high_quality_pct`` on 2,500 samples; seed ``s`` is replica ``s`` (seeds 0-9).
PAPER_RING_RECORD = {
    "dataset": "ring",
    "setup": "pacgan",
    "device": "NVIDIA H200 (torch 2.11.0+cu130)",
    "date": "2026-12-04",
    "n_steps": 20000,
    "curves": {
        "gan": _curve(
            {1000: [7, 4, 8, 5, 4, 4, 8, 8, 4, 8], 2000: [7, 8, 8, 8, 7, 7, 8, 7, 8, 8],
             5000: [8] * 10, 10000: [8] * 10, 15000: [8, 7, 8, 8, 8, 8, 8, 8, 8, 8],
             20000: [8, 8, 8, 8, 7, 8, 8, 8, 8, 8]},
            {1000: [6.0, 0.9, 7.4, 1.4, 0.3, 5.2, 8.9, 2.4, 1.5, 4.5],
             2000: [23.3, 25.2, 22.9, 25.0, 27.9, 22.5, 34.0, 13.1, 20.4, 47.2],
             5000: [63.5, 49.9, 68.8, 52.0, 52.8, 81.8, 75.9, 84.4, 65.1, 62.0],
             10000: [72.8, 71.1, 70.0, 79.9, 80.8, 81.2, 70.7, 70.9, 66.8, 73.2],
             15000: [88.9, 88.3, 86.0, 67.6, 65.9, 70.6, 92.2, 84.8, 75.7, 71.8],
             20000: [73.68, 83.08, 91.48, 66.6, 90.24, 87.4, 82.08, 92.76, 78.12, 78.88]}),
        "bgan": _curve(
            {1000: [1, 3, 3, 2, 2, 3, 3, 2, 3, 3], 2000: [2, 2, 3, 3, 2, 2, 2, 2, 2, 3],
             5000: [5, 4, 5, 6, 3, 8, 6, 4, 6, 4], 10000: [6, 7, 6, 8, 7, 6, 7, 5, 4, 8],
             15000: [7, 8, 8, 8, 7, 8, 8, 6, 6, 8]},
            {1000: [0.4, 0.4, 0.4, 1.9, 15.3, 0.7, 0.8, 2.7, 0.4, 0.5],
             2000: [0.5, 0.1, 1.1, 6.4, 1.7, 1.5, 0.6, 0.4, 0.7, 1.7],
             5000: [30.5, 6.4, 24.1, 14.0, 10.4, 25.7, 23.8, 44.2, 14.8, 7.4],
             10000: [49.2, 48.6, 26.2, 51.7, 68.3, 44.9, 63.4, 66.8, 50.1, 35.0],
             15000: [42.7, 61.8, 63.7, 66.0, 27.2, 52.9, 54.4, 34.8, 36.0, 75.4]}),
        "mbgan": _curve(
            {1000: [8, 8, 8, 8, 8, 8, 7, 7, 8, 8], 2000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 7],
             5000: [7, 8, 8, 8, 8, 8, 8, 8, 8, 8], 10000: [8] * 10, 15000: [8] * 10},
            {1000: [18.9, 22.6, 24.3, 18.6, 27.0, 8.0, 21.9, 16.2, 13.1, 4.8],
             2000: [36.4, 38.4, 47.5, 31.7, 37.6, 35.6, 11.8, 64.0, 28.7, 42.2],
             5000: [40.4, 35.8, 70.6, 68.6, 67.5, 73.6, 78.5, 76.8, 71.7, 64.4],
             10000: [83.3, 66.7, 75.8, 71.3, 83.6, 80.5, 81.1, 70.8, 87.4, 78.5],
             15000: [87.1, 88.7, 86.4, 78.0, 83.6, 89.3, 86.0, 89.0, 90.8, 82.0]}),
    },
}


#: ``grid`` in PacGAN's setting at ``paper`` scale, on a CPU, 2026-12-05, when no GPU was lent:
#: ``python -m companion reproduce symmetric_discriminators/mode_coverage --scale paper --set
#: "datasets=('grid',)" --set "methods=('<model>',)" --set "setups=('pacgan',)"``, each model in its
#: own process with ``OMP_NUM_THREADS=1``, two side by side on the two cores: the GAN and M-BGAN
#: (12:02-13:37 UTC), then BGAN and the mixup GAN (14:16-15:52 UTC). Every model finished its
#: 20,000 steps (``seconds``: wall-clock time). An earlier BGAN run of the same command, stopped
#: after step 10,000, gave the same evaluations seed by seed up to there. ``curves`` as in
#: :data:`PAPER_RING_RECORD` (modes of 25).
PAPER_GRID_RECORD = {
    "dataset": "grid",
    "setup": "pacgan",
    "device": "a 2-core CPU, one thread per model (torch 2.13.0)",
    "date": "2026-12-05",
    "n_steps": 20000,
    "seconds": {"gan": 4207, "bgan": 5744, "mbgan": 5706, "mixup": 3323},
    "curves": {
        "gan": _curve(
            {1000: [7, 4, 9, 10, 7, 8, 12, 11, 7, 11],
             2000: [3, 9, 9, 9, 9, 11, 9, 9, 9, 3],
             5000: [8, 12, 10, 17, 11, 8, 19, 18, 11, 11],
             10000: [18, 17, 17, 19, 18, 16, 20, 20, 15, 14],
             15000: [20, 15, 18, 16, 17, 15, 20, 21, 17, 15],
             20000: [18, 17, 19, 16, 18, 17, 19, 20, 17, 16]},
            {1000: [2.6, 1.2, 1.7, 1.2, 1.1, 1.0, 2.3, 1.6, 2.0, 1.8],
             2000: [2.3, 0.8, 1.1, 4.8, 1.7, 1.6, 3.1, 2.4, 0.8, 0.7],
             5000: [4.5, 6.0, 4.1, 24.2, 18.4, 12.7, 16.9, 14.9, 12.2, 15.3],
             10000: [28.6, 34.2, 33.7, 43.5, 41.0, 33.3, 44.1, 32.6, 24.2, 44.7],
             15000: [33.6, 59.0, 45.6, 52.3, 63.2, 45.4, 43.2, 50.7, 37.9, 49.6],
             20000: [48.16, 68.32, 45.12, 55.72, 60.28, 57.2, 62.2, 52.48, 60.56, 60.8]}),
        "bgan": _curve(
            {1000: [5, 6, 7, 4, 7, 6, 8, 9, 7, 5],
             2000: [7, 8, 8, 8, 5, 5, 7, 5, 11, 4],
             5000: [7, 5, 8, 9, 9, 6, 9, 9, 4, 7],
             10000: [7, 6, 5, 5, 7, 5, 5, 7, 7, 5],
             15000: [7, 8, 7, 14, 7, 4, 4, 8, 10, 6],
             20000: [7, 8, 7, 7, 11, 4, 9, 5, 7, 6]},
            {1000: [2.0, 1.1, 1.3, 0.9, 1.1, 1.0, 1.3, 0.9, 1.2, 0.8],
             2000: [0.9, 1.6, 1.8, 1.1, 2.4, 3.4, 1.3, 2.3, 1.2, 2.0],
             5000: [1.9, 1.0, 4.0, 2.2, 2.0, 3.4, 2.1, 6.1, 3.4, 1.6],
             10000: [5.7, 1.7, 2.2, 2.9, 1.2, 16.7, 5.5, 9.2, 5.2, 2.0],
             15000: [5.2, 25.5, 17.0, 23.3, 16.1, 8.7, 10.1, 7.1, 12.3, 12.6],
             20000: [14.2, 21.56, 36.76, 4.84, 31.28, 14.48, 11.16, 24.72, 17.4, 8.48]}),
        "mbgan": _curve(
            {1000: [9, 9, 8, 11, 12, 10, 8, 8, 12, 7],
             2000: [13, 11, 13, 14, 14, 14, 9, 11, 13, 3],
             5000: [9, 18, 17, 16, 17, 19, 15, 19, 10, 17],
             10000: [21, 23, 24, 21, 21, 23, 21, 22, 19, 21],
             15000: [22, 23, 23, 21, 23, 20, 22, 24, 20, 18],
             20000: [22, 23, 25, 22, 23, 21, 25, 25, 22, 23]},
            {1000: [2.2, 1.3, 1.6, 1.8, 1.3, 2.2, 1.1, 0.9, 2.1, 1.7],
             2000: [3.0, 2.5, 2.5, 4.5, 4.5, 5.6, 2.1, 4.5, 4.1, 0.4],
             5000: [14.9, 13.3, 14.7, 11.5, 18.2, 14.3, 19.1, 19.2, 8.0, 16.6],
             10000: [30.6, 32.0, 21.0, 35.8, 25.3, 40.7, 37.7, 27.6, 29.6, 36.4],
             15000: [35.1, 45.0, 45.1, 39.6, 44.3, 39.8, 44.4, 42.0, 48.3, 29.4],
             20000: [36.96, 40.76, 38.24, 48.16, 44.96, 37.44, 40.04, 48.4, 32.28, 40.64]}),
        "mixup": _curve(
            {1000: [7, 6, 5, 8, 14, 13, 12, 13, 4, 7],
             2000: [7, 9, 17, 14, 8, 14, 9, 13, 11, 12],
             5000: [12, 9, 14, 14, 10, 11, 16, 12, 14, 9],
             10000: [23, 22, 23, 25, 24, 23, 24, 22, 22, 24],
             15000: [24, 24, 25, 25, 23, 24, 25, 23, 24, 25],
             20000: [25, 25, 24, 25, 25, 25, 24, 25, 25, 25]},
            {1000: [2.2, 1.7, 1.2, 1.7, 2.2, 1.8, 1.9, 1.9, 1.4, 2.0],
             2000: [1.3, 1.0, 1.4, 1.9, 1.0, 2.1, 2.5, 1.7, 1.2, 1.3],
             5000: [6.6, 4.6, 3.7, 6.9, 3.8, 2.2, 9.9, 5.3, 3.6, 5.5],
             10000: [22.1, 27.8, 22.5, 30.6, 21.0, 17.5, 22.1, 18.2, 15.8, 26.6],
             15000: [34.5, 40.2, 47.1, 41.5, 37.1, 27.3, 28.0, 36.8, 31.3, 39.5],
             20000: [53.24, 40.16, 42.36, 60.16, 50.6, 46.56, 49.16, 44.24, 34.12, 50.32]}),
    },
}

#: ``ring`` in PacGAN's setting at ``paper`` scale on a CPU, 2026-12-07, when no GPU was lent: all four models,
#: the mixup GAN, which the H200's lease did not reach, and BGAN and M-BGAN, which it cut at about 17,700 steps,
#: each beside a model of its own run, with the grid's command (``datasets=('ring',)``, ``methods=('<model>',)``),
#: each model in its own process with ``OMP_NUM_THREADS=1``, two side by side on the two cores: the GAN and the
#: mixup GAN (05:48-07:04 UTC), then BGAN and M-BGAN (08:21-09:55 UTC). Every model finished its 20,000 steps
#: (``seconds``: wall-clock time). The GAN is the H200 run's recipe and seeds on another device, so another run of
#: them, not a copy: their evaluations differ seed by seed from step 1,000 on. ``curves`` as in
#: :data:`PAPER_RING_RECORD`.
PAPER_RING_CPU_RECORD = {
    "dataset": "ring",
    "setup": "pacgan",
    "device": "a 2-core CPU, one thread per model (torch 2.13.0)",
    "date": "2026-12-07",
    "n_steps": 20000,
    "seconds": {"gan": 4539, "mixup": 3436, "bgan": 5668, "mbgan": 5638},
    "curves": {
        "gan": _curve(
            {1000: [7, 2, 8, 3, 6, 8, 7, 8, 3, 6],
             2000: [8, 7, 8, 8, 7, 8, 8, 7, 7, 8],
             5000: [7, 8, 8, 8, 8, 8, 8, 5, 8, 7],
             10000: [7, 7, 8, 8, 8, 8, 8, 7, 8, 8],
             15000: [7, 8, 8, 8, 8, 8, 8, 7, 8, 8],
             20000: [7, 6, 8, 8, 8, 8, 8, 7, 8, 8]},
            {1000: [3.4, 0.8, 5.2, 3.9, 2.2, 11.3, 7.7, 6.8, 1.0, 13.0],
             2000: [32.2, 12.7, 24.4, 53.3, 21.4, 54.1, 41.1, 40.7, 10.0, 26.8],
             5000: [57.3, 63.8, 68.4, 50.4, 69.5, 81.1, 67.8, 49.3, 27.3, 47.5],
             10000: [83.3, 75.5, 80.2, 78.4, 84.9, 54.9, 84.3, 80.9, 71.3, 82.8],
             15000: [72.5, 69.8, 86.8, 87.9, 75.7, 51.2, 85.7, 86.1, 82.9, 78.7],
             20000: [56.04, 78.24, 90.16, 94.28, 88.48, 76.32, 92.88, 90.64, 90.8, 68.48]}),
        "mixup": _curve(
            {1000: [6, 4, 7, 7, 4, 7, 8, 7, 4, 4],
             2000: [8, 8, 7, 8, 8, 8, 8, 8, 8, 8],
             5000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
             10000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
             15000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
             20000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8]},
            {1000: [3.6, 1.0, 1.3, 4.7, 0.4, 2.6, 16.1, 5.2, 0.2, 0.7],
             2000: [25.3, 5.7, 15.1, 21.8, 7.4, 31.8, 41.0, 17.2, 7.3, 25.4],
             5000: [54.3, 72.6, 52.7, 66.1, 48.6, 50.7, 72.3, 61.6, 52.2, 55.1],
             10000: [71.2, 71.1, 78.9, 73.0, 78.4, 74.4, 79.4, 77.5, 76.4, 86.4],
             15000: [88.4, 63.0, 85.2, 85.4, 77.6, 84.2, 87.2, 88.6, 68.6, 81.0],
             20000: [91.84, 77.2, 84.48, 90.44, 76.68, 92.24, 73.52, 91.88, 77.44, 66.2]}),
        "bgan": _curve(
            {1000: [2, 2, 3, 1, 4, 1, 1, 2, 3, 4],
             2000: [2, 2, 3, 5, 4, 2, 0, 2, 1, 3],
             5000: [4, 6, 7, 3, 5, 8, 6, 6, 4, 4],
             10000: [6, 7, 8, 7, 4, 8, 8, 7, 4, 7],
             15000: [8, 8, 8, 8, 8, 8, 8, 8, 7, 8],
             20000: [7, 8, 8, 8, 8, 8, 8, 8, 7, 8]},
            {1000: [3.7, 1.5, 0.7, 0.1, 1.8, 1.6, 0.0, 0.9, 2.3, 0.5],
             2000: [0.8, 0.2, 0.4, 0.8, 1.2, 14.4, 0.0, 0.4, 0.2, 0.4],
             5000: [16.6, 24.3, 32.4, 21.1, 20.1, 13.6, 21.2, 23.3, 12.4, 9.8],
             10000: [35.7, 36.8, 48.8, 38.7, 58.9, 71.6, 58.5, 50.8, 59.3, 35.0],
             15000: [44.8, 51.1, 87.4, 72.3, 61.4, 66.6, 67.7, 51.4, 50.6, 56.0],
             20000: [49.4, 68.12, 71.56, 80.0, 65.4, 69.76, 83.32, 79.28, 35.24, 49.24]}),
        "mbgan": _curve(
            {1000: [7, 7, 8, 6, 7, 8, 8, 8, 8, 8],
             2000: [8] * 10, 5000: [8] * 10, 10000: [8] * 10, 15000: [8] * 10, 20000: [8] * 10},
            {1000: [7.2, 6.3, 22.6, 8.2, 15.3, 14.6, 8.1, 24.9, 8.9, 13.9],
             2000: [25.0, 26.1, 35.5, 45.5, 52.6, 30.2, 15.3, 37.0, 33.3, 18.1],
             5000: [59.5, 69.8, 44.6, 78.6, 67.1, 47.4, 56.4, 64.6, 68.0, 74.2],
             10000: [57.4, 70.3, 79.6, 65.0, 87.0, 73.6, 57.5, 83.0, 87.4, 80.0],
             15000: [88.9, 89.2, 76.5, 86.7, 81.1, 83.7, 67.9, 89.8, 89.0, 83.4],
             20000: [90.04, 88.24, 72.84, 89.28, 87.16, 91.64, 79.52, 94.2, 90.52, 93.12]}),
    },
}


#: The ``ring`` at ``paper`` scale in the thesis' setting (Lucas 2020, Sec. 4.5: generators and discriminators of
#: three ReLU layers of 512 units, Adam with its default parameters (1e-3, betas 0.9 and 0.999), five discriminator
#: steps per generator step; batch 100, 10 seeds trained at once as replicas), on a CPU, one thread per model: the
#: GAN beside M-BGAN, started 2026-12-07 (``setups=('thesis',)``, ``datasets=('ring',)``, one model per process,
#: checkpointed every few minutes and resumed with ``--resume`` across sessions). ``curves`` hold the evaluations
#: each model's process printed to its log so far (its last is the last step it reached; at 20,000, the run's
#: JSON), copied without change (as in :data:`PAPER_RING_RECORD`). The GAN finished on 2026-12-07 at 17:34 UTC and
#: M-BGAN at 20:00 UTC; BGAN started at 17:34 UTC beside M-BGAN, the mixup GAN at 20:01 UTC beside BGAN (both
#: resumed at 20:51 UTC after a session's end), and ``finished`` waits for all four.
#: ``steps_per_second``: each process's speed on one thread beside the other, read from its progress bar.
PAPER_RING_THESIS_CPU_RECORD = {
    "dataset": "ring",
    "setup": "thesis",
    "device": "a 2-core CPU, one thread per model (torch 2.13.0)",
    "date": "2026-12-07",
    "n_steps": 20000,
    "finished": False,
    "steps_per_second": {"gan": 1.3, "mbgan": 1.05, "bgan": 1.05, "mixup": 1.85},
    "curves": {
        "gan": _curve(
            {1000: [0, 5, 3, 1, 0, 2, 1, 4, 3, 1],
             2000: [2, 1, 4, 1, 0, 3, 2, 1, 3, 2],
             5000: [1, 1, 2, 1, 2, 5, 2, 1, 0, 2],
             10000: [1, 0, 1, 1, 0, 2, 2, 1, 2, 2],
             15000: [0, 0, 0, 0, 1, 2, 1, 0, 0, 3],
             20000: [0, 1, 0, 1, 1, 0, 1, 1, 1, 0]},
            {1000: [0.0, 14.2, 2.0, 39.6, 0.0, 1.0, 0.7, 63.8, 29.6, 0.0],
             2000: [56.1, 10.2, 1.6, 1.8, 0.0, 1.3, 39.8, 0.2, 0.4, 7.1],
             5000: [7.3, 22.9, 0.1, 49.2, 68.8, 42.3, 60.7, 2.3, 0.0, 53.2],
             10000: [100.0, 0.0, 0.1, 0.6, 0.0, 52.2, 54.2, 59.4, 47.6, 40.8],
             15000: [0.0, 0.0, 0.0, 0.0, 7.7, 70.6, 46.9, 0.0, 0.0, 68.5],
             20000: [0.0, 100.0, 0.0, 0.24, 14.92, 0.0, 0.04, 79.88, 100.0, 0.0]}),
        "mbgan": _curve(
            {1000: [6, 7, 1, 1, 3, 0, 1, 0, 1, 1],
             2000: [7, 6, 6, 5, 3, 0, 2, 4, 7, 6],
             5000: [8, 6, 8, 8, 7, 0, 7, 7, 7, 6],
             10000: [6, 8, 8, 7, 4, 1, 6, 6, 7, 7],
             15000: [8, 7, 6, 8, 5, 0, 7, 8, 8, 4],
             20000: [4, 6, 5, 8, 7, 0, 7, 7, 4, 7]},
            {1000: [16.6, 30.6, 0.0, 0.2, 1.2, 0.0, 7.9, 0.0, 0.0, 0.1],
             2000: [33.1, 41.2, 4.2, 10.7, 2.8, 0.0, 2.4, 1.2, 8.5, 7.7],
             5000: [67.1, 54.9, 35.3, 30.9, 57.2, 0.0, 53.2, 11.6, 18.9, 0.8],
             10000: [33.4, 34.8, 65.2, 35.1, 25.9, 100.0, 46.4, 16.8, 30.1, 56.6],
             15000: [74.0, 51.4, 35.8, 62.3, 34.9, 0.0, 49.8, 49.9, 36.0, 16.6],
             20000: [26.12, 57.0, 56.6, 37.72, 86.24, 0.0, 74.68, 59.76, 17.4, 56.52]}),
        "bgan": _curve(
            {1000: [0, 0, 2, 1, 1, 0, 0, 0, 0, 0],
             2000: [4, 1, 4, 6, 4, 0, 1, 4, 0, 4],
             5000: [8, 5, 8, 7, 7, 8, 8, 8, 8, 6],
             10000: [8, 7, 6, 4, 8, 3, 7, 7, 6, 4]},
            {1000: [0.0, 0.0, 1.3, 2.4, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0],
             2000: [1.1, 28.5, 1.6, 1.6, 1.4, 0.0, 0.1, 1.0, 0.0, 2.6],
             5000: [8.2, 2.7, 2.5, 16.2, 21.5, 26.8, 32.3, 25.2, 27.2, 36.8],
             10000: [45.9, 23.1, 13.5, 0.7, 25.4, 70.4, 36.8, 73.1, 25.0, 62.4]}),
        "mixup": _curve(
            {1000: [3, 5, 2, 2, 1, 1, 3, 0, 2, 1],
             2000: [2, 3, 0, 1, 3, 1, 2, 1, 2, 0],
             5000: [3, 5, 0, 1, 1, 4, 4, 3, 3, 2],
             10000: [2, 3, 2, 2, 2, 2, 0, 3, 1, 7],
             15000: [0, 3, 5, 1, 7, 4, 3, 5, 6, 4]},
            {1000: [2.8, 6.7, 0.2, 0.4, 2.4, 0.2, 1.8, 0.0, 1.8, 1.4],
             2000: [1.4, 3.7, 0.0, 0.1, 0.6, 0.7, 1.7, 1.0, 0.6, 0.0],
             5000: [3.2, 5.4, 0.0, 4.5, 4.1, 1.0, 4.0, 10.3, 1.4, 2.4],
             10000: [0.2, 3.9, 8.9, 1.0, 8.9, 1.0, 0.0, 7.1, 5.2, 12.1],
             15000: [0.0, 8.6, 4.7, 3.4, 17.0, 20.7, 1.4, 18.3, 57.7, 8.6]}),
    },
}


def _checked_curves(record: Mapping) -> Dict[str, Dict[int, Dict[str, List[float]]]]:
    """The record's curves, after checking their shape: a GAN, and per step equal seed counts."""
    if not isinstance(record, Mapping) or not isinstance(record.get("curves"), Mapping):
        raise TypeError("record must be a mapping with 'curves' (see PAPER_RING_RECORD)")
    curves = record["curves"]
    if "gan" not in curves:
        raise ValueError(f"the record needs the GAN's curve to compare against; it has {sorted(curves)}")
    for method, curve in curves.items():
        if method not in METHOD_NAMES:
            raise ValueError(f"unknown method {method!r} in the record; known: {sorted(METHOD_NAMES)}")
        if not isinstance(curve, Mapping) or not curve:
            raise ValueError(f"the record's curve of {method!r} must map steps to per-seed values; got {curve!r}")
        for step, values in curve.items():
            modes, quality = values.get("modes"), values.get("high_quality_pct")
            if not modes or quality is None or len(modes) != len(quality):
                raise ValueError(f"{method} at step {step}: 'modes' and 'high_quality_pct' must be non-empty "
                                 f"per-seed lists of one length")
    return curves


def _steps(record: Mapping, steps: Optional[Sequence[int]]) -> List[int]:
    """The steps every method of the record was evaluated at (or the requested ones, checked)."""
    curves = _checked_curves(record)
    common = sorted(set.intersection(*(set(curve) for curve in curves.values())))
    if steps is None:
        return common
    missing = [s for s in steps if s not in common]
    if missing:
        raise ValueError(f"steps {missing} are not evaluated for every method; common steps: {common}")
    return list(steps)


def _dataset(record: Mapping) -> str:
    dataset = record.get("dataset", "ring")
    if dataset not in PAPER_GAN_BARS:
        raise ValueError(f"the record's dataset must be one of {sorted(PAPER_GAN_BARS)}; got {dataset!r}")
    return dataset


def gan_bar_met_from(record: Mapping = PAPER_RING_RECORD) -> Optional[int]:
    """The first recorded step from which on the GAN's mean modes stay at or above its bar
    (:data:`PAPER_GAN_BARS` of the record's data set) at every later evaluation; ``None`` if it
    is below the bar at its last one."""
    gan = _checked_curves(record)["gan"]
    bar = PAPER_GAN_BARS[_dataset(record)]
    met_from = None
    for step in sorted(gan):
        if np.mean(gan[step]["modes"]) >= bar:
            met_from = step if met_from is None else met_from
        else:
            met_from = None
    return met_from


def paper_record_table(record: Mapping = PAPER_RING_RECORD) -> pd.DataFrame:
    """Modes covered and high-quality samples (mean ± std over the seeds) at every recorded
    step, one row per (step, model), with PacGAN's Table 3 GAN beside (a pandas DataFrame)."""
    import pandas as pd

    curves = _checked_curves(record)
    dataset = _dataset(record)
    rows = []
    for step in sorted(set().union(*curves.values())):
        for method in (m for m in curves if step in curves[m]):
            values = curves[method][step]
            rows.append({"step": step, "model": METHOD_NAMES[method], "seeds": len(values["modes"]),
                         "modes": format_spread(summarize(values["modes"])),
                         "high quality (%)": format_spread(summarize(values["high_quality_pct"]))})
    table = pd.DataFrame(rows)
    modes, quality = PACGAN_TABLE[dataset]["GAN"]
    pacgan = pd.DataFrame([{"step": record.get("n_steps", ""), "model": "GAN (PacGAN, Table 3)", "seeds": 10,
                            "modes": f"{modes}", "high quality (%)": f"{quality}"}])
    return pd.concat([table, pacgan], ignore_index=True)


def gan_bar_phrase(record: Mapping) -> str:
    """Whether the record's GAN meets its bar (:func:`gan_bar_met_from`), as the sentence that says whether the
    comparisons with it are read: "It meets the bar of 17 modes from step 10,000 on, so the comparisons below are
    read", or that it stays below the bar and the comparisons are shown, not read."""
    met_from = gan_bar_met_from(record)  # checks the record first
    bar = PAPER_GAN_BARS[_dataset(record)]
    if met_from is not None:
        return f"It meets the bar of {bar:g} modes from step {met_from:,} on, so the comparisons below are read"
    return (f"It stays below the bar of {bar:g} modes at its last evaluation, so the comparisons below are shown "
            "and not read: a GAN baseline weaker than the published one would flatter the batch discriminators")


def run_rates(record: Mapping) -> str:
    """The speed of every model of ``record`` that finished its run, from its wall-clock ``seconds``: e.g.
    ``"GAN: 4.8 generator steps per second (70 minutes for 20,000 steps); ..."``.

    Raises:
        TypeError: if ``record`` is not a mapping.
        ValueError: if the record has no ``seconds`` or ``n_steps``, or a time is not positive.
    """
    if not isinstance(record, Mapping):
        raise TypeError(f"record must be a mapping (see PAPER_GRID_RECORD); got {type(record).__name__}")
    seconds, n_steps = record.get("seconds"), record.get("n_steps")
    if not isinstance(seconds, Mapping) or not seconds or not n_steps:
        raise ValueError("the record needs 'n_steps' and the 'seconds' of the models that finished")
    if any(not s > 0 for s in seconds.values()):
        raise ValueError(f"every wall-clock time must be positive; got {dict(seconds)}")
    return "; ".join(f"{METHOD_NAMES[m]}: {n_steps / s:.1f} generator steps per second "
                     f"({s / 60:.0f} minutes for {n_steps:,} steps)" for m, s in seconds.items())


def last_comparison_phrase(record: Mapping, method: str) -> str:
    """``method`` against the record's GAN at the last step both were evaluated at: both models' modes and
    high-quality shares (mean ± std over the seeds) and the verdicts on "covers more modes" and "its samples
    are more often of high quality" (:func:`paper_record_comparisons`).

    Raises:
        ValueError: if the record has no evaluation of ``method`` at a step the GAN was evaluated at.
    """
    curves = _checked_curves(record)
    rows = {(r["step"], r["quantity"]): r for r in paper_record_comparisons(record) if r["method"] == method}
    if not rows:
        raise ValueError(f"the record has no comparison of {method!r} with the GAN; it has {sorted(curves)}")
    last = max(step for step, _ in rows)
    ours, gan = curves[method][last], curves["gan"][last]
    name = "the mixup GAN" if method == "mixup" else METHOD_NAMES[method]

    def spread(values: Mapping, quantity: str) -> str:
        return format_spread(summarize(values[quantity]))

    return (f"at step {last:,}, {name} covers {spread(ours, 'modes')} modes ({spread(ours, 'high_quality_pct')} % "
            f"high quality) against the GAN's {spread(gan, 'modes')} ({spread(gan, 'high_quality_pct')} %): "
            f"\"{METHOD_NAMES[method]} covers more modes\" {rows[(last, 'modes')]['verdict']} and \"its samples are "
            f"more often of high quality\" {rows[(last, 'high_quality_pct')]['verdict']}")


def models_compared_phrase(record: Mapping, first: str, second: str) -> str:
    """Two models of the record, neither of them necessarily the GAN, at the last step both were evaluated at:
    "at step 20,000, in modes, <first> (m ± s) is ahead of <second> (m ± s): the difference ...; in
    high-quality samples (%), ..." (:func:`companion.evidence.compare_phrase`, seeds treated as independent).

    Raises:
        ValueError: if either model is not in the record, the two are the same, or they share no step.
    """
    curves = _checked_curves(record)
    for method in (first, second):
        if method not in curves:
            raise ValueError(f"the record has no run of {method!r}; it has {sorted(curves)}")
    if first == second:
        raise ValueError(f"compare two different models; got {first!r} twice")
    common = set(curves[first]) & set(curves[second])
    if not common:
        raise ValueError(f"{first!r} and {second!r} were never evaluated at the same step")
    last = max(common)
    names = ["the mixup GAN" if m == "mixup" else METHOD_NAMES[m] for m in (first, second)]
    return f"at step {last:,}, " + evaluations_compared_phrase(names[0], curves[first][last], names[1],
                                                               curves[second][last])


def evaluations_compared_phrase(name_a: str, evaluation_a: Mapping, name_b: str, evaluation_b: Mapping) -> str:
    """Two evaluations over seeds (each ``{"modes": [...], "high_quality_pct": [...]}``, one step of a record's
    curve), in modes and in high-quality samples: "in modes, <a> (m ± s) is ahead of <b> ...; in high-quality
    samples (%), ..." (:func:`companion.evidence.compare_phrase`, seeds treated as independent). Used for two
    models of one run and for one model's runs on two devices.

    Raises:
        ValueError: if an evaluation lacks ``modes`` or ``high_quality_pct``.
    """
    for name, evaluation in ((name_a, evaluation_a), (name_b, evaluation_b)):
        if not isinstance(evaluation, Mapping) or not all(evaluation.get(q) for q in ("modes", "high_quality_pct")):
            raise ValueError(f"the evaluation of {name!r} needs per-seed 'modes' and 'high_quality_pct'; got "
                             f"{evaluation!r}")
    return "; ".join(
        f"{label}, " + compare_phrase(name_a, evaluation_a[quantity], name_b, evaluation_b[quantity])
        for label, quantity in (("in modes", "modes"), ("in high-quality samples (%)", "high_quality_pct")))


def paper_record_comparisons(record: Mapping = PAPER_RING_RECORD, steps: Optional[Sequence[int]] = None) -> List[Dict]:
    """Each other model of the record (the batch GANs, the mixup GAN) against its GAN at every
    step both were evaluated at (or at ``steps``, which every model must have reached), on modes
    covered and on the high-quality fraction: the difference, its 95% bootstrap interval and the
    verdict on "the model is better" (seeds treated as independent, as in the book-scale run). A
    run cut short is compared up to its last evaluation.

    Returns:
        Rows ``{"step", "method", "quantity", "difference", "low", "high", "verdict", "phrase"}``.
    """
    curves = _checked_curves(record)
    requested = None if steps is None else _steps(record, steps)
    rows = []
    for step in sorted(set().union(*curves.values())):
        if requested is not None and step not in requested:
            continue
        for method in (m for m in curves if m != "gan" and step in curves[m] and step in curves["gan"]):
            for quantity in ("modes", "high_quality_pct"):
                runs = {f"p/d/{m}": {"modes": curves[m][step][quantity]} for m in ("gan", method)}
                row = _compare(runs, "p", "d", method)
                rows.append({"step": step, "method": method, "quantity": quantity,
                             **{k: row[k] for k in ("difference", "low", "high", "verdict", "phrase")}})
    return rows


def verdicts_along(record: Mapping = PAPER_RING_RECORD, method: str = "mbgan", quantity: str = "modes") -> str:
    """The verdicts of :func:`paper_record_comparisons` for one batch GAN and quantity at every
    step it was compared at, grouped by verdict in order of first appearance, e.g. ``"cannot tell
    at this budget at steps 1,000, 5,000; holds at steps 2,000, 10,000"``: the whole list, none
    picked."""
    if quantity not in ("modes", "high_quality_pct"):
        raise ValueError(f"quantity must be 'modes' or 'high_quality_pct'; got {quantity!r}")
    rows = [r for r in paper_record_comparisons(record) if r["method"] == method and r["quantity"] == quantity]
    if not rows:
        raise ValueError(f"the record has no comparison of {method!r} with the GAN; it has {sorted(record['curves'])}")
    steps_by_verdict: Dict[str, List[str]] = {}
    for row in sorted(rows, key=lambda r: r["step"]):
        steps_by_verdict.setdefault(row["verdict"], []).append(f"{row['step']:,}")
    return "; ".join(f"{verdict} at step{'s' * (len(steps) > 1)} {', '.join(steps)}"
                     for verdict, steps in steps_by_verdict.items())


def _last_modes_verdicts(record: Mapping) -> Dict[str, Tuple[int, str]]:
    """Each batch GAN's last evaluation against the GAN on modes: method -> (step, verdict)."""
    last: Dict[str, Tuple[int, str]] = {}
    for row in paper_record_comparisons(record):
        if row["quantity"] == "modes" and row["step"] >= last.get(row["method"], (0, ""))[0]:
            last[row["method"]] = (row["step"], row["verdict"])
    return last


def thesis_figure_reading(record: Mapping = PAPER_RING_THESIS_CPU_RECORD) -> str:
    """The thesis' Fig. 4.3 sentence ("the standard GAN setting quickly diverges ... while both batch smoothing and
    mixup successfully fit the majority of modes") read against a record of its setting, so far as it has run.

    The figure shows the GAN, the mixup GAN and BGAN (the thesis: "Results for BGAN and M-BGAN are qualitatively
    similar on this dataset and we only display results for BGAN"). It holds when the GAN ends below the data set's
    bar (:data:`PAPER_GAN_BARS`) and "covers more modes than the GAN" holds at the last evaluation of each model it
    shows (:func:`paper_record_comparisons`); it does not hold as stated when the GAN is at its bar or one of those
    claims does not hold, and cannot be told when an interval contains zero. Without an evaluation of the mixup GAN
    the reading rests on BGAN alone and says so ("holds for BGAN"). M-BGAN's verdict is given beside it, as the
    thesis' "similar" claims.

    Returns:
        e.g. "so far, with BGAN at step 5,000 and the mixup GAN at step 2,000 of 20,000, the thesis' figure cannot
        be told from these seeds in its own setting: the GAN covers 0.6 modes at step 20,000, below the bar of 6;
        for BGAN, the batch-smoothing model it shows, \"more modes than the GAN\" holds at step 5,000; for the mixup
        GAN, which it shows beside BGAN, ... ; and for M-BGAN, which the thesis calls similar, ...".

    Raises:
        TypeError, ValueError: for a record without a GAN's curve (:func:`gan_bar_met_from`).
    """
    curves = _checked_curves(record)
    gan_last = max(curves["gan"])
    gan_mean = float(np.mean(curves["gan"][gan_last]["modes"]))
    bar = PAPER_GAN_BARS[_dataset(record)]
    gan_below = gan_mean < bar
    last_verdicts = _last_modes_verdicts(record)
    gan_part = (f"the GAN covers {gan_mean:.1f} modes at step {gan_last:,}, "
                f"{'below' if gan_below else 'at or above'} the bar of {bar:g}")

    def part(method: str, who: str) -> str:
        if method not in last_verdicts:
            return f"{who} has no evaluation yet"
        step, word = last_verdicts[method]
        return f"for {who} \"more modes than the GAN\" {word} at step {step:,}"

    mbgan_part = part("mbgan", "M-BGAN, which the thesis calls similar,")
    mixup_part = part("mixup", "the mixup GAN, which it shows beside BGAN,")
    if "bgan" not in last_verdicts:
        return (f"so far the thesis' figure cannot be read: BGAN, the batch-smoothing model it shows, has no "
                f"evaluation yet; {gan_part}; {mixup_part}; and {mbgan_part}")
    shown = {name: last_verdicts[method] for method, name in (("bgan", "BGAN"), ("mixup", "the mixup GAN"))
             if method in last_verdicts}
    words = [word for _, word in shown.values()]
    if not gan_below or "does not hold" in words:
        reading = "does not hold as it is stated"
    elif all(word == "holds" for word in words):
        reading = "holds" if "mixup" in last_verdicts else "holds for BGAN"
    else:
        reading = "cannot be told from these seeds"
    n_steps = record.get("n_steps")
    if n_steps and min(step for step, _ in shown.values()) < n_steps:
        when = "so far, with " + " and ".join(f"{name} at step {step:,}" for name, (step, _) in shown.items())
        when += f" of {n_steps:,},"
    else:
        when = f"at the end of the runs of {' and '.join(shown)}" if len(shown) > 1 else "at the end of BGAN's run"
    return (f"{when} the thesis' figure {reading} in its own setting: {gan_part}; "
            f"{part('bgan', 'BGAN, the batch-smoothing model it shows,')}; {mixup_part}; and {mbgan_part}")


def plot_paper_record(record: Mapping = PAPER_RING_RECORD) -> Figure:
    """Modes covered (left) and high-quality samples (right) against generator steps: mean and
    spread over the seeds of every model, with the GAN's bar (:data:`PAPER_GAN_BARS`) and PacGAN's GAN."""
    curves = _checked_curves(record)
    dataset = _dataset(record)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for method, curve in curves.items():
        steps = np.array(sorted(curve))
        for ax, quantity in zip(axes, ("modes", "high_quality_pct")):
            values = np.array([curve[s][quantity] for s in steps], dtype=float)
            mean, std = values.mean(1), values.std(1, ddof=1)
            ax.plot(steps, mean, marker="o", ms=3, label=METHOD_NAMES[method])
            ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    modes, quality = PACGAN_TABLE[dataset]["GAN"]
    axes[0].axhline(PAPER_GAN_BARS[dataset], color="crimson", lw=1, ls=":", label="the bar")
    axes[0].axhline(modes, color="grey", lw=1, ls="--", label="PacGAN's GAN")
    axes[1].axhline(quality, color="grey", lw=1, ls="--", label="PacGAN's GAN")
    axes[0].set(xlabel="generator step", ylabel=f"modes covered (of {len(toy_centers(dataset))})")
    axes[1].set(xlabel="generator step", ylabel="high-quality samples (%)")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{dataset}, paper scale, {record.get('device', '')}, {record.get('date', '')}",
                 fontsize=9)
    fig.tight_layout()
    return fig
