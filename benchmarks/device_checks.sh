#!/usr/bin/env bash
# The GPU checks of the book in one prepared run, for a machine with a CUDA device and a short lease.
#
#   bash benchmarks/device_checks.sh OUT_DIR [ring|grid|both]     # on the GPU machine
#   bash benchmarks/device_checks.sh OUT_DIR ring --smoke         # the same steps on a CPU, in about a minute
#
# In order, each step with its own time limit so that one slow step cannot eat the others:
#   1. symmetric_discriminators/mode_coverage at paper scale in PacGAN's setting (20,000 steps, 10 seeds
#      as replicas, GAN, BGAN, M-BGAN and the mixup GAN) on one data set or both (RUN_LIMIT_S, default
#      400 s). SETUP=thesis runs the thesis' setting instead (3 x 512 networks, five critic steps per
#      generator step, Adam(1e-3)): PacGAN's has run on both data sets (the ring on an H200 and, to the
#      end, on a CPU; the grid on a CPU), the thesis' on neither, and it costs more per generator step.
#      Each (data set, model) pair runs in its own process, all at once: a toy step is a few hundred
#      tiny kernels, bound by the launching CPU thread, so one process leaves most of the GPU idle.
#      Each writes its per-seed values (the JSON's "runs" and "curves") for merging, and its progress
#      bar and every evaluation (modes of each seed) to its log. Checkpoints every minute into WORK_DIR
#      (default OUT_DIR/work), so a run cut by the time limit goes on with RESUME=1 and the same
#      WORK_DIR. Measured on an NVIDIA H200 (2026-12-04): with all 8 pairs at once each process made
#      18 (BGAN, M-BGAN) to 28 (GAN) steps per second, with the 4 ring pairs 25 to 46, so both data
#      sets need about 20 minutes and ring alone about 14: more than one 10-minute command. With
#      the 3 ring pairs of METHODS="gan bgan mbgan" (2026-12-04, second lease) each made about 40
#      (BGAN, M-BGAN) to 58 (GAN) steps per second: the GAN finished in 6 minutes, the other two
#      reached about 17,700 steps in 520 s. Within a 15-minute lease (about 1.5 minutes to start),
#      run a subset with RUN_LIMIT_S of about 540 and resume at once on the same machine (RESUME=1,
#      same WORK_DIR), or one pair per data set.
#   2. benchmarks/replicas.py: 8 seeds as replicas against 8 sequential runs, on the CPU and the GPU,
#      with the digits VAE's compute ceiling (about 1 min; --quick steps; BENCH_LIMIT_S);
#   3. benchmarks/paper_throughput.py --device cuda --markdown: measured seconds per step of every
#      paper-scale family and the GPU-hours of each paper-scale experiment (about 30 s; BENCH_LIMIT_S).
#   4. benchmarks/channels_last.py --device cuda: Real-NVP's channels-last conv couplings and the PixelCNN's
#      channels-last stack against the default layout on the GPU (measured only on CPUs so far; a few seconds;
#      BENCH_LIMIT_S).
# Everything lands in OUT_DIR: the printed figures (*.txt, *.md), the experiment's metrics.json and figures,
# and device.txt with the GPU's name and the date, for the chapter and the README list; the mode
# coverage outputs and logs (without checkpoints) in OUT_DIR/mode_coverage.tar.gz.
set -uo pipefail

out=${1:?usage: device_checks.sh OUT_DIR [ring|grid|both] [--smoke]}
datasets=${2:-ring}
mode=${3:-}
python=${PYTHON:-python}
setup=${SETUP:-pacgan}
case "$setup" in
  pacgan|thesis) ;;
  *) echo "SETUP must be pacgan or thesis; got '$setup'" >&2; exit 2 ;;
esac

case "$datasets" in
  ring) sets="('ring',)" ;;
  grid) sets="('grid',)" ;;
  both) sets="('ring', 'grid')" ;;
  *) echo "data sets must be ring, grid or both; got '$datasets'" >&2; exit 2 ;;
esac

if [ "$mode" = "--smoke" ]; then
  scale=smoke; device=cpu; limit_bench=300; limit_run=300; quick="--quick"
elif [ -z "$mode" ]; then
  scale=paper; device=cuda; limit_bench=${BENCH_LIMIT_S:-120}; limit_run=${RUN_LIMIT_S:-400}; quick="--seconds 2"
else
  echo "the third argument must be --smoke or nothing; got '$mode'" >&2; exit 2
fi
mkdir -p "$out" && out=$(cd "$out" && pwd)  # only once the arguments are known to be good
export COMPANION_PROGRESS=0

{
  date -u +"%Y-%m-%d %H:%M UTC"
  $python -c "import torch; print('torch', torch.__version__); print(torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device')"
} > "$out/device.txt" 2>&1
cat "$out/device.txt"

status=0
step() {  # step NAME LIMIT_S COMMAND...: run with a time limit, keep its output, remember a failure
  local name=$1 limit=$2; shift 2
  echo "== $name (limit ${limit} s)"
  local start=$SECONDS
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1
  local rc=$?
  tail -n 12 "$out/$name.txt"
  echo "== $name: exit $rc after $((SECONDS - start)) s"
  [ "$rc" -eq 0 ] || status=1
}

mode_coverage() {  # every (data set, model) pair in its own process, all at once, under one time limit
  local work=${WORK_DIR:-$out/work} resume="" pids="" name
  mkdir -p "$work" && work=$(cd "$work" && pwd)
  [ "${RESUME:-0}" = "1" ] && resume="--resume"
  echo "== mode_coverage (limit ${limit_run} s, $setup setting, $(echo $sets | tr -d "(),'") x ${methods// /, })"
  local start=$SECONDS
  for dataset in $(echo "$sets" | tr -d "(),'"); do
    for method in $methods; do
      name="${dataset}_${setup}_${method}"
      OMP_NUM_THREADS=1 COMPANION_PROGRESS=1 timeout "$limit_run" $python -m companion reproduce symmetric_discriminators/mode_coverage \
        --scale "$scale" --set "datasets=('$dataset',)" --set "methods=('$method',)" --set "setups=('$setup',)" \
        --checkpoint-every 1 $resume --out "$work/$name" > "$work/$name.log" 2>&1 &
      pids="$pids $!"
    done
  done
  for pid in $pids; do wait "$pid" || status=1; done
  echo "== mode_coverage: done after $((SECONDS - start)) s"
  tail -n 3 "$work"/*.log
  (cd "$work" && tar czf "$out/mode_coverage.tar.gz" --exclude='*.checkpoints' .)
}

# METHODS picks the models (one lease may not hold all four: see the rates above)
if [ "$mode" = "--smoke" ]; then methods=${METHODS:-"gan bgan"}; else methods=${METHODS:-"gan bgan mbgan mixup"}; fi
mode_coverage
step replicas "$limit_bench" $python benchmarks/replicas.py --quick
step paper_throughput "$limit_bench" $python benchmarks/paper_throughput.py --device "$device" $quick --markdown
step channels_last "$limit_bench" $python benchmarks/channels_last.py --device "$device" --quick
exit $status
