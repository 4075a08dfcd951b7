"""tools/metrics_table.py: the before/after comparison of experiment metrics."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "metrics_table", Path(__file__).resolve().parents[1] / "tools" / "metrics_table.py"
)
metrics_table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(metrics_table)


def test_compare_flags_changes_and_ignores_timings():
    before = {"a/x": {"metrics": {"ll": 1.0, "seconds": 3.0, "rows": [1, 2], "name": "GAN"}}}
    same = {"a/x": {"metrics": {"ll": 1.0, "seconds": 9.0, "rows": [1, 2], "name": "GAN"}}}
    _, n_over = metrics_table.compare(before, same)
    assert n_over == 0
    changed = {"a/x": {"metrics": {"ll": 1.1, "seconds": 3.0, "rows": [1, 3], "name": "VAE"}}}
    lines, n_over = metrics_table.compare(before, changed)
    assert n_over == 3 and any("ll" in line and "9.09e-02" in line for line in lines)
    _, n_over = metrics_table.compare(before, {"a/x": {"error": "ValueError: boom"}})
    assert n_over == 1
    timings = {"a/x": {"metrics": {"train_seconds": {"GAN": {"mean": 0.1}}, "gan_ring_seconds": 0.2, "ll": 1.0,
                               "gan_seconds_mean": 1.0}}}
    slower = {"a/x": {"metrics": {"train_seconds": {"GAN": {"mean": 0.3}}, "gan_ring_seconds": 0.5, "ll": 1.0,
                              "gan_seconds_mean": 2.0}}}
    lines, n_over = metrics_table.compare(timings, slower)
    assert n_over == 0 and not any("seconds" in line for line in lines[1:])
