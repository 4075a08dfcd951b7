"""The recorded book-scale runs of ``symmetric_discriminators/training_length``, seed by seed.

Each data set's runs were made with the command recorded beside them, on this repository's
two-core CPU build machine (two one-thread worker processes; the numbers do not depend on the
machine's thread count or on what else runs, only the time does). They take longer than a
chapter's budget, so the chapter reads this record and computes its tables, figure and verdicts
from it with the helpers of :mod:`companion.experiments.symmetric_training_length`.

``TRAINING_LENGTH_RECORD[dataset]["runs"]``: training length -> model -> ``modes`` and
``high_quality_pct`` per seed (seeds 0-9) at the end of the run, and ``curve``: the modes per
seed at the shorter lengths that run passed. ``pacgan_lr``: the learning rate the runs started
from (the book scale's, :class:`~companion.experiments.symmetric_mode_coverage.ModeCoverageConfig`;
the runs of 2026-12-04/05 at the earlier 1e-3 were replaced when it was halved). ``seconds``: the
wall-clock time of the command, which on 2026-12-06 shared the two cores with up to three other
one-thread runs, so it overstates what the runs cost alone.

``GRID_LONGER_RECORD``: a longer ``grid`` run of the same recipe, made afterwards with its own
command to see whether the gap between M-BGAN and the GAN at the longest length above keeps
growing; it holds one length and so no scores along the way. ``LENGTH_RUNS``: every recorded
run per data set in order of length, the longer ``grid`` run after the others (what the chapters read).
"""

__all__ = ["GRID_LONGER_RECORD", "LENGTH_RUNS", "TRAINING_LENGTH_RECORD"]

TRAINING_LENGTH_RECORD = {
    "grid": {
        "date": "2026-12-06 (04:19-04:54 UTC)",
        "seconds": 2099,
        "pacgan_lr": 0.0005,
        "command": ("python -m companion reproduce symmetric_discriminators/training_length --scale book"
                    ' --set "datasets=(\'grid\',)"'),
        "runs": {
            1500: {
                "bgan": {"modes": [10, 13, 10, 10, 15, 10, 15, 9, 11, 12],
                        "high_quality_pct": [0.92, 1.32, 1.32, 2.16, 2.08, 1.28, 1.64, 3, 1.4, 1.56],
                        "curve": {}},
                "gan": {"modes": [16, 13, 14, 17, 14, 14, 14, 10, 17, 9],
                        "high_quality_pct": [2.76, 8.88, 2.36, 2.32, 1.84, 1.16, 2.68, 1.36, 4.2, 0.96],
                        "curve": {}},
                "mbgan": {"modes": [13, 11, 20, 15, 14, 14, 21, 11, 16, 12],
                        "high_quality_pct": [4.16, 3.08, 4.28, 5.56, 2.12, 5.76, 5.88, 3.68, 4.76, 2.48],
                        "curve": {}},
            },
            3000: {
                "bgan": {"modes": [9, 9, 8, 12, 9, 9, 13, 8, 11, 9],
                        "high_quality_pct": [1.68, 1.12, 0.84, 1.56, 1.72, 1.8, 1.64, 1.32, 1.12, 2.12],
                        "curve": {
                            1500: [6, 10, 9, 11, 7, 9, 7, 11, 9, 9],
                        }},
                "gan": {"modes": [13, 12, 15, 16, 15, 16, 16, 16, 20, 16],
                        "high_quality_pct": [11.2, 4.28, 6.68, 3.44, 6.56, 7.96, 6.36, 9.68, 9.8, 9.04],
                        "curve": {
                            1500: [11, 6, 12, 7, 16, 13, 14, 16, 14, 14],
                        }},
                "mbgan": {"modes": [21, 11, 15, 16, 17, 16, 12, 13, 18, 12],
                        "high_quality_pct": [10.56, 4, 7.16, 8.88, 10.6, 8, 6.04, 8.6, 7.64, 4.76],
                        "curve": {
                            1500: [17, 15, 14, 11, 17, 12, 16, 17, 11, 12],
                        }},
            },
            6000: {
                "bgan": {"modes": [7, 8, 10, 16, 11, 9, 10, 16, 10, 11],
                        "high_quality_pct": [4.44, 5.56, 9.16, 4.92, 2.12, 1.36, 10.96, 8.52, 2.48, 4.16],
                        "curve": {
                            1500: [12, 6, 7, 11, 9, 9, 7, 8, 8, 4],
                            3000: [12, 10, 7, 7, 10, 9, 5, 9, 11, 7],
                        }},
                "gan": {"modes": [18, 21, 17, 16, 17, 20, 18, 16, 18, 17],
                        "high_quality_pct": [8.68, 19.6, 14.12, 7.84, 7.6, 18.76, 19.6, 8.28, 16.72, 12.2],
                        "curve": {
                            1500: [10, 9, 16, 15, 11, 13, 9, 13, 11, 9],
                            3000: [15, 14, 14, 11, 13, 13, 14, 8, 12, 8],
                        }},
                "mbgan": {"modes": [17, 18, 14, 20, 17, 21, 22, 18, 21, 17],
                        "high_quality_pct": [8.72, 14.48, 15.8, 13.24, 11.96, 17.64, 14.92, 12.12, 13.2, 10.56],
                        "curve": {
                            1500: [8, 10, 9, 15, 17, 11, 10, 10, 13, 14],
                            3000: [17, 12, 9, 13, 14, 9, 11, 16, 13, 15],
                        }},
            },
            12000: {
                "bgan": {"modes": [14, 7, 9, 9, 6, 8, 7, 12, 15, 8],
                        "high_quality_pct": [8.04, 2.92, 14.28, 2.36, 0.56, 21.16, 6.68, 8.76, 15.4, 9.44],
                        "curve": {
                            1500: [11, 11, 6, 8, 10, 6, 5, 5, 9, 6],
                            3000: [8, 9, 12, 6, 9, 9, 11, 9, 6, 6],
                            6000: [6, 5, 5, 9, 12, 12, 13, 10, 8, 5],
                        }},
                "gan": {"modes": [15, 21, 19, 17, 13, 19, 20, 22, 23, 19],
                        "high_quality_pct": [21.2, 29.28, 26.28, 18.52, 18.16, 25.44, 28.04, 23.12, 25.16, 21.36],
                        "curve": {
                            1500: [10, 11, 17, 10, 11, 10, 8, 10, 8, 12],
                            3000: [15, 13, 11, 7, 9, 16, 15, 10, 11, 8],
                            6000: [14, 18, 19, 19, 14, 17, 17, 17, 19, 19],
                        }},
                "mbgan": {"modes": [22, 20, 22, 23, 15, 22, 18, 21, 22, 18],
                        "high_quality_pct": [37.76, 30.56, 28.72, 31.32, 12.92, 30.48, 34.16, 25.64, 30.04, 22.52],
                        "curve": {
                            1500: [10, 8, 11, 12, 10, 12, 15, 11, 12, 9],
                            3000: [10, 15, 12, 13, 16, 12, 15, 10, 15, 16],
                            6000: [19, 18, 20, 17, 13, 21, 20, 17, 16, 17],
                        }},
            },
            20000: {
                "bgan": {"modes": [12, 18, 4, 8, 13, 10, 12, 8, 13, 17],
                        "high_quality_pct": [19.12, 12.32, 12.6, 8.08, 3.6, 5.84, 8.84, 3.32, 7.72, 11.64],
                        "curve": {
                            1500: [7, 6, 10, 4, 8, 8, 10, 5, 6, 8],
                            3000: [11, 6, 5, 5, 10, 9, 10, 4, 8, 12],
                            6000: [8, 8, 5, 8, 7, 4, 6, 8, 9, 6],
                            12000: [8, 7, 9, 9, 14, 8, 10, 11, 9, 11],
                        }},
                "gan": {"modes": [19, 18, 19, 16, 19, 18, 19, 19, 19, 17],
                        "high_quality_pct": [41.6, 34.88, 40.72, 26.84, 44.48, 23.04, 28.72, 43.16, 41, 38.08],
                        "curve": {
                            1500: [10, 16, 7, 7, 8, 12, 9, 11, 17, 9],
                            3000: [11, 13, 10, 12, 8, 5, 11, 12, 14, 13],
                            6000: [13, 16, 13, 15, 12, 17, 17, 18, 15, 17],
                            12000: [15, 19, 20, 17, 20, 19, 19, 18, 20, 17],
                        }},
                "mbgan": {"modes": [18, 22, 25, 22, 23, 23, 24, 22, 20, 22],
                        "high_quality_pct": [39.32, 50.08, 49.92, 42.56, 34.32, 44.72, 44.76, 33.96, 42.56, 42.36],
                        "curve": {
                            1500: [15, 11, 15, 8, 6, 12, 11, 6, 13, 11],
                            3000: [10, 11, 10, 12, 11, 12, 11, 11, 16, 10],
                            6000: [19, 19, 19, 17, 15, 22, 17, 15, 19, 18],
                            12000: [22, 22, 25, 18, 20, 23, 24, 21, 21, 22],
                        }},
            },
        },
    },

    "ring": {
        "date": "2026-12-06 (03:34-04:19 UTC)",
        "seconds": 2663,
        "pacgan_lr": 0.0005,
        "command": ("python -m companion reproduce symmetric_discriminators/training_length --scale book"
                    ' --set "datasets=(\'ring\',)"'),
        "runs": {
            1500: {
                "bgan": {"modes": [6, 6, 8, 8, 2, 6, 6, 5, 8, 6],
                        "high_quality_pct": [4.2, 10.96, 7.24, 6.24, 5.24, 4.28, 3.16, 3.48, 16.32, 5.64],
                        "curve": {}},
                "gan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [44.72, 32.76, 54.52, 61.8, 46.4, 39.32, 60.68, 56.2, 61.96, 45.48],
                        "curve": {}},
                "mbgan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [51.12, 49, 28.88, 47.64, 53.32, 42.84, 45.84, 50.32, 41.12, 41.44],
                        "curve": {}},
            },
            3000: {
                "bgan": {"modes": [6, 5, 5, 5, 6, 7, 8, 5, 7, 4],
                        "high_quality_pct": [14.52, 6.28, 28.12, 9.88, 21.76, 13.28, 39.04, 36.32, 23.24, 5.36],
                        "curve": {
                            1500: [4, 5, 7, 5, 3, 4, 7, 4, 5, 4],
                        }},
                "gan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [74.56, 72.68, 75.64, 74.12, 77.24, 76.08, 78.76, 70.4, 79.52, 76.52],
                        "curve": {
                            1500: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        }},
                "mbgan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [76.8, 71.08, 73.16, 80.88, 71.24, 78.44, 78.48, 77.12, 74, 67.8],
                        "curve": {
                            1500: [7, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        }},
            },
            6000: {
                "bgan": {"modes": [8, 6, 7, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [68.92, 42.96, 36.92, 64.2, 54.04, 27.72, 51.68, 70.12, 37.16, 53.48],
                        "curve": {
                            1500: [4, 6, 4, 4, 3, 3, 3, 1, 3, 4],
                            3000: [6, 4, 5, 8, 5, 4, 7, 7, 6, 4],
                        }},
                "gan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [82.92, 83.12, 80.32, 89.52, 88.36, 79.44, 85.28, 83.52, 87.8, 90.44],
                        "curve": {
                            1500: [8, 7, 8, 8, 7, 8, 8, 8, 8, 8],
                            3000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        }},
                "mbgan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [87.12, 76.92, 87.24, 86.96, 79.84, 83.24, 85.72, 86.64, 80.84, 75],
                        "curve": {
                            1500: [8, 8, 7, 8, 8, 8, 8, 8, 8, 8],
                            3000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        }},
            },
            12000: {
                "bgan": {"modes": [8, 8, 7, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [87.04, 88.84, 33.48, 88.68, 88, 80.84, 77.76, 82.08, 84.08, 81.4],
                        "curve": {
                            1500: [4, 3, 4, 3, 3, 2, 2, 3, 5, 3],
                            3000: [7, 4, 4, 5, 5, 3, 8, 4, 7, 3],
                            6000: [8, 8, 6, 8, 7, 7, 8, 7, 7, 7],
                        }},
                "gan": {"modes": [8, 7, 8, 8, 8, 8, 7, 8, 8, 8],
                        "high_quality_pct": [91.88, 92.56, 92.44, 89.8, 91.92, 87.96, 92.64, 88.2, 93.4, 92.88],
                        "curve": {
                            1500: [8, 8, 7, 8, 6, 8, 8, 8, 8, 8],
                            3000: [8, 7, 8, 7, 8, 8, 7, 8, 8, 8],
                            6000: [8, 7, 8, 8, 8, 7, 7, 8, 8, 8],
                        }},
                "mbgan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [91.12, 83.16, 88.8, 87.48, 90.76, 92.4, 89.72, 92.4, 88.6, 91.36],
                        "curve": {
                            1500: [7, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                            3000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                            6000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        }},
            },
            20000: {
                "bgan": {"modes": [8, 8, 8, 8, 8, 8, 8, 7, 8, 8],
                        "high_quality_pct": [91.6, 57.92, 84.52, 89.84, 93.44, 88.92, 89.56, 69.08, 90.48, 93.08],
                        "curve": {
                            1500: [3, 1, 3, 2, 4, 5, 2, 4, 2, 4],
                            3000: [7, 2, 4, 4, 5, 6, 5, 0, 5, 4],
                            6000: [8, 7, 3, 5, 8, 6, 7, 5, 8, 7],
                            12000: [8, 8, 8, 8, 8, 8, 8, 7, 8, 8],
                        }},
                "gan": {"modes": [8, 8, 8, 6, 7, 8, 8, 7, 8, 8],
                        "high_quality_pct": [95.92, 93.96, 94.96, 91.6, 94.52, 95.24, 92.32, 92.72, 95.32, 95.36],
                        "curve": {
                            1500: [8, 6, 8, 7, 8, 6, 8, 8, 8, 7],
                            3000: [8, 7, 8, 8, 7, 7, 8, 8, 8, 8],
                            6000: [8, 8, 8, 7, 7, 8, 8, 7, 8, 8],
                            12000: [8, 8, 8, 7, 7, 8, 8, 7, 8, 8],
                        }},
                "mbgan": {"modes": [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        "high_quality_pct": [90.52, 90.76, 90.52, 91.08, 93.2, 95.56, 92.64, 94.96, 91.88, 90.12],
                        "curve": {
                            1500: [8, 8, 8, 8, 6, 8, 8, 8, 8, 7],
                            3000: [8, 7, 8, 8, 8, 8, 8, 8, 8, 8],
                            6000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                            12000: [8, 8, 8, 8, 8, 8, 8, 8, 8, 8],
                        }},
            },
        },
    },
}


GRID_LONGER_RECORD = {
    "date": "2026-12-06 (09:26-09:43 UTC)",
    "seconds": 986,  # the three models side by side (COMPANION_WORKERS=3) on the two cores, otherwise idle
    "pacgan_lr": 0.0005,
    "command": ("python -m companion reproduce symmetric_discriminators/training_length --scale book"
                ' --set "datasets=(\'grid\',)" --set "horizons=(30000,)"'),
    "runs": {
        30000: {
            "bgan": {"modes": [16, 13, 12, 17, 10, 12, 11, 9, 8, 7],
                    "high_quality_pct": [17.08, 20.64, 37.52, 15.52, 26.48, 16.04, 9.32, 7.52, 13.32, 12.12],
                    "curve": {}},
            "gan": {"modes": [19, 24, 15, 17, 15, 13, 18, 17, 19, 19],
                    "high_quality_pct": [67.72, 69.6, 42.12, 48.32, 50.64, 34.2, 56.6, 59.2, 46.32, 58.04],
                    "curve": {}},
            "mbgan": {"modes": [23, 25, 22, 24, 23, 21, 24, 23, 25, 23],
                    "high_quality_pct": [50.96, 61.44, 50.56, 55.72, 50.64, 52.96, 62.6, 57.56, 60.68, 42.44],
                    "curve": {}},
        },
    },
}

LENGTH_RUNS = {"ring": TRAINING_LENGTH_RECORD["ring"]["runs"],
               "grid": {**TRAINING_LENGTH_RECORD["grid"]["runs"], **GRID_LONGER_RECORD["runs"]}}
