"""``benchmarks/device_checks.sh`` refuses bad arguments before it writes or runs anything: a GPU lease is
too short to lose to a typo found ten minutes in."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_checks.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the script is a bash script")


def _run(tmp_path, *args, **env):
    out = tmp_path / "out"
    result = subprocess.run(["bash", str(SCRIPT), str(out), *args], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHON": "false", **env})
    return result, out


@pytest.mark.parametrize("args, env, message", [
    (("ring",), {"SETUP": "both"}, "SETUP must be pacgan or thesis; got 'both'"),
    (("rings",), {}, "data sets must be ring, grid or both; got 'rings'"),
    (("ring", "--fast"), {}, "the third argument must be --smoke or nothing; got '--fast'"),
])
def test_a_bad_argument_stops_the_script_with_its_reason_before_anything_is_written(tmp_path, args, env, message):
    result, out = _run(tmp_path, *args, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists()  # no output folder, no device.txt, no process started
