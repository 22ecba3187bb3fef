#!/bin/bash
# One accelerator run through the `device` tool (~9 minutes; BUILD_NOTES.md, 0.8): train
# paper-size DCGANs (EMA) side by side for TRAIN_S seconds, export them, score the paper's
# search on the first 100 test images and on the next 100 (held-out validation), train
# each one's latent encoder, then score fast / sharp / sharp+mirror on the test cells.
#   DATASET  cars (default) or celeba: config, data archive and splits
#   MODELS   which to train, default "A B": A with DiffAugment, B without (a comparison);
#            "A" alone gets the whole accelerator (a model to ship)
#   POLICY_A A's DiffAugment policy, default color,translation,cutout (BUILD_NOTES 0.9:
#            translation alone kept a fine-tuned face D out of chance, the full policy not)
#   INIT     a model file (e.g. one an earlier run returned) every model starts from, with
#            fresh optimiser states: a run longer than one lease, in pieces
# Needs `DATASET=... bash benchmarks/device/prepare.sh` first; then, through the device tool,
#   DEVICE=1 DATASET=cars bash benchmarks/device/run.sh   (carry .gpu and .whl)
# Local smoke test (a CPU, ~3 minutes): PY=.venv/bin/python PYTHONPATH=$PWD/.gpu/site:$PWD \
#   TRAIN_S=75 ENC_S=70 ENC_STEPS=40 EXTRA="--config.model.ngf=8 --config.model.ndf=8 \
#   --config.checkpoint_every=50 --config.log_every=50" EVAL_EXTRA="--num_images 4 --iterations 20" \
#   bash benchmarks/device/run.sh
set -u
T0=$(date +%s)
el() { echo "[t=$(( $(date +%s) - T0 ))s] $*"; }
PY=${PY:-python3}
OUT=${OUT:-/tmp/out}
R=${R:-/tmp/r}
DATASET=${DATASET:-cars}
MODELS=${MODELS:-"A B"}
TRAIN_S=${TRAIN_S:-285}
ENC_S=${ENC_S:-105}
ENC_STEPS=${ENC_STEPS:-6000}
EVAL2_S=${EVAL2_S:-120}
EVAL3_S=${EVAL3_S:-110}
EXTRA=${EXTRA:-}
EVAL_EXTRA=${EVAL_EXTRA:-}
POLICY_A=${POLICY_A:-color,translation,cutout}
INIT=${INIT:-}
case $DATASET in
  cars) CONFIG=inpaint_jax/configs/cars_folder.py; TEST=range:06645:06744; VAL=range:06745:06844 ;;
  celeba) CONFIG=inpaint_jax/configs/celeba_folder.py; TEST=range:008001:008100; VAL=range:008101:008200 ;;
  *) echo "DATASET must be cars or celeba, got $DATASET"; exit 2 ;;
esac
D=/tmp/data_$DATASET
[ -d $D ] || { mkdir -p $D && tar xzf .gpu/$DATASET.tgz -C $D --strip-components=1; } || exit 2
mkdir -p $R $OUT
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=2
if [ -d .whl ] && [ "${DEVICE:-0}" = 1 ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    .whl/ml_collections-*.whl .whl/dm_pix-*.whl .whl/tensorboardx-*.whl
  export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD
fi
nvidia-smi -L 2>/dev/null
$PY -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, 'flax', flax.__version__, 'optax', optax.__version__, 'orbax', o.__version__, jax.devices())" 2>&1 | tail -2
model_flags() {
  [ -n "$INIT" ] && echo "--config.init_from=$INIT"
  [ "$1" = A ] && echo "--config.diff_augment=$POLICY_A"
}
train() {
  timeout -s TERM $(( TRAIN_S - ($(date +%s) - T0) )) $PY experiments/train_dcgan.py \
    --config $CONFIG --workdir $R/$1 --config.dataset.folder=$D \
    --config.num_steps=1000000 --config.checkpoint_every=2500 --config.keep_checkpoints=200 \
    --config.sample_every=5000 --config.log_every=1000 --config.progress_bar=false $EXTRA \
    $(model_flags $1) > $R/$1.log 2>&1
}
PIDS=""
launch_training() { PIDS=""; for m in $MODELS; do train $m & PIDS="$PIDS $!"; done; }
launch_training
sleep 45
for p in $PIDS; do
  kill -0 $p 2>/dev/null && continue
  el "a training process died early; logs:"; for m in $MODELS; do tail -30 $R/$m.log; done
  if [ "${DEVICE:-0}" = 1 ]; then
    el "retrying with the carried flax / optax / orbax wheels"
    kill $PIDS 2>/dev/null; wait; for m in $MODELS; do rm -rf $R/$m; done
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
      .whl/flax-*.whl .whl/optax-*.whl .whl/orbax_checkpoint-*.whl
    launch_training
  fi
  break
done
wait
el "training done"; for m in $MODELS; do grep -h "step [0-9]*:" $R/$m.log | tail -2; done
for m in $MODELS; do
  $PY experiments/export_model.py --workdir $R/$m --out $R/$m.msgpack > $R/export_$m.log 2>&1 &
done
wait
el "exported"; ls -la $R/*.msgpack
for m in $MODELS; do cp $R/$m.msgpack $OUT/${DATASET}_$m.msgpack; done
EVAL="benchmarks/device/evalcells.py --folder $D --test_split $TEST --val_split $VAL $EVAL_EXTRA"
for m in $MODELS; do
  [ -f $R/$m.msgpack ] || continue
  timeout -s TERM $EVAL2_S $PY $EVAL --model $R/$m.msgpack --out $R/eval_$m --presets paper \
    --splits test,val > $R/eval_paper_$m.log 2>&1 &
  timeout -s TERM $ENC_S $PY experiments/train_latent_encoder.py \
    --config inpaint_jax/configs/latent_encoder.py:$DATASET --workdir $R/E$m --config.dcgan=$R/$m.msgpack \
    --config.dataset.folder=$D --config.num_steps=$ENC_STEPS --config.checkpoint_every=500 \
    --config.sample_every=1000000 --config.log_every=500 --config.progress_bar=false \
    > $R/enc_$m.log 2>&1 &
done
wait
el "paper cells + encoders done"; grep -h CELL $R/eval_paper_*.log
for m in $MODELS; do
  $PY experiments/export_model.py --workdir $R/E$m --out $R/E$m.msgpack > $R/export_E$m.log 2>&1 &
done
wait
for m in $MODELS; do cp $R/E$m.msgpack $OUT/${DATASET}_${m}_encoder.msgpack; done
el "encoders exported"; for m in $MODELS; do grep -h "step [0-9]*:" $R/enc_$m.log | tail -1; done
for m in $MODELS; do
  [ -f $R/E$m.msgpack ] || continue
  timeout -s TERM $EVAL3_S $PY $EVAL --model $R/$m.msgpack --encoder $R/E$m.msgpack \
    --out $R/eval_$m --presets fast,sharp,sharp_mirror --splits test \
    > $R/eval_presets_$m.log 2>&1 &
done
wait
el "preset cells done"; grep -h CELL $R/eval_presets_*.log
# Everything small comes back in one archive: logs, cell summaries and rows, samples, configs
# (never checkpoints: a warm machine keeps an earlier call's /tmp).
(cd $R && tar czf $OUT/results.tgz *.log */samples */config.json eval_* 2>/dev/null)
ls -la $OUT; el "end"
