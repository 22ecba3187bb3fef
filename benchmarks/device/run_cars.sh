#!/bin/bash
# One accelerator run (the `device` tool, ~9 minutes; BUILD_NOTES.md, 0.8): train two
# paper-size cars DCGANs (EMA; A with DiffAugment, B without) side by side for TRAIN_S
# seconds, export them, score the paper's search on the test cells (06645-06744) and on
# held-out validation cells (06745-06844), train each one's latent encoder, score fast /
# quality / quality+mirror on test. Needs benchmarks/device/prepare.sh first; then
#   device run: DEVICE=1 bash benchmarks/device/run_cars.sh   (carry .gpu and .whl)
# Local smoke test (a CPU, minutes): PY=.venv/bin/python PYTHONPATH=$PWD/.gpu/site:$PWD \
#   TRAIN_S=75 ENC_S=70 ENC_STEPS=40 EXTRA="--config.model.ngf=8 --config.model.ndf=8 \
#   --config.checkpoint_every=50 --config.log_every=50" EVAL_EXTRA="--num_images 4 --iterations 20" \
#   bash benchmarks/device/run_cars.sh
set -u
T0=$(date +%s)
el() { echo "[t=$(( $(date +%s) - T0 ))s] $*"; }
PY=${PY:-python3}
OUT=${OUT:-/tmp/out}
R=${R:-/tmp/r}
TRAIN_S=${TRAIN_S:-285}
ENC_S=${ENC_S:-105}
ENC_STEPS=${ENC_STEPS:-6000}
EVAL2_S=${EVAL2_S:-120}
EVAL3_S=${EVAL3_S:-110}
EXTRA=${EXTRA:-}
EVAL_EXTRA=${EVAL_EXTRA:-}
D=/tmp/cars
[ -d $D ] || tar xzf .gpu/cars.tgz -C /tmp
mkdir -p $R $OUT
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=2
if [ -d .whl ] && [ "${DEVICE:-0}" = 1 ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/ml_collections-*.whl .whl/dm_pix-*.whl .whl/tensorboardx-*.whl
  export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD
fi
nvidia-smi -L 2>/dev/null
$PY -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', o.__version__, jax.devices())" 2>&1 | tail -2
train() {  # name, extra flags
  timeout -s TERM $(( TRAIN_S - ($(date +%s) - T0) )) $PY experiments/train_dcgan.py \
    --config inpaint_jax/configs/cars_folder.py --workdir $R/$1 --config.dataset.folder=$D \
    --config.num_steps=1000000 --config.checkpoint_every=2500 --config.keep_checkpoints=200 \
    --config.sample_every=5000 --config.log_every=1000 --config.progress_bar=false $EXTRA "${@:2}" \
    > $R/$1.log 2>&1
}
launch_training() {
  train A --config.diff_augment=color,translation,cutout & PA=$!
  train B & PB=$!
}
launch_training
sleep 45
if ! kill -0 $PA 2>/dev/null || ! kill -0 $PB 2>/dev/null; then
  el "a training process died early; logs:"; tail -30 $R/A.log $R/B.log
  if [ "${DEVICE:-0}" = 1 ]; then
    el "retrying with the carried flax / optax / orbax wheels"
    kill $PA $PB 2>/dev/null; wait; rm -rf $R/A $R/B
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
      .whl/flax-*.whl .whl/optax-*.whl .whl/orbax_checkpoint-*.whl
    launch_training
  fi
fi
wait
el "training done"; grep -h "step [0-9]*:" $R/A.log | tail -2; grep -h "step [0-9]*:" $R/B.log | tail -2
for m in A B; do
  $PY experiments/export_model.py --workdir $R/$m --out $R/$m.msgpack > $R/export_$m.log 2>&1 &
done
wait
el "exported"; ls -la $R/*.msgpack; cp $R/A.msgpack $OUT/cars_A_da.msgpack; cp $R/B.msgpack $OUT/cars_B.msgpack
for m in A B; do
  [ -f $R/$m.msgpack ] || continue
  timeout -s TERM $EVAL2_S $PY benchmarks/device/evalcells.py --model $R/$m.msgpack --folder $D --out $R/eval_$m \
    --presets paper --splits test,val $EVAL_EXTRA > $R/eval_paper_$m.log 2>&1 &
  timeout -s TERM $ENC_S $PY experiments/train_latent_encoder.py \
    --config inpaint_jax/configs/latent_encoder.py:cars --workdir $R/E$m --config.dcgan=$R/$m.msgpack \
    --config.dataset.folder=$D --config.num_steps=$ENC_STEPS --config.checkpoint_every=500 \
    --config.sample_every=1000000 --config.log_every=500 --config.progress_bar=false \
    > $R/enc_$m.log 2>&1 &
done
wait
el "paper cells + encoders done"; grep -h CELL $R/eval_paper_*.log
for m in A B; do
  $PY experiments/export_model.py --workdir $R/E$m --out $R/E$m.msgpack > $R/export_E$m.log 2>&1 &
done
wait
cp $R/EA.msgpack $OUT/cars_A_da_encoder.msgpack; cp $R/EB.msgpack $OUT/cars_B_encoder.msgpack
el "encoders exported"; grep -h "step [0-9]*:" $R/enc_A.log | tail -1; grep -h "step [0-9]*:" $R/enc_B.log | tail -1
for m in A B; do
  [ -f $R/E$m.msgpack ] || continue
  timeout -s TERM $EVAL3_S $PY benchmarks/device/evalcells.py --model $R/$m.msgpack --encoder $R/E$m.msgpack \
    --folder $D --out $R/eval_$m --presets fast,quality,quality_mirror --splits test $EVAL_EXTRA \
    > $R/eval_presets_$m.log 2>&1 &
done
wait
el "preset cells done"; grep -h CELL $R/eval_presets_*.log
# Everything small: logs, cell summaries and per-image rows, the sample grids, configs.
(cd $R && tar czf $OUT/results.tgz --exclude='checkpoints' --exclude='*.msgpack' --exclude='events.*' \
   *.log A/samples B/samples A/config.json B/config.json eval_A eval_B EA/samples EB/samples 2>/dev/null)
ls -la $OUT; el "end"
