"""bfloat16 against float32 on paired cells: the hole PSNR and LPIPS(hole) differences
(bfloat16 - float32, mean ± paired standard error over the same images, masks and seeds) of
every <root>/<preset>/<dataset>/<mask>/{float32,bfloat16} pair of split-runner cells.

  python benchmarks/precision_table.py runs/prec > results/precision/validation.md
"""

import csv
import os
import sys

import numpy as np


def _scores(cell: str) -> dict[str, tuple[float, float]]:
  with open(os.path.join(cell, "results.csv")) as f:
    return {r["id"]: (float(r["psnr_hole"]), float(r["lpips_hole"])) for r in csv.DictReader(f)}


def main(root: str) -> None:
  print("| preset | dataset | mask | n | hole PSNR f32 | bf16 - f32 (dB) | LPIPS(hole) f32 | "
        "bf16 - f32 | within 0.05 dB |")
  print("|---|---|---|---|---|---|---|---|---|")
  for preset in sorted(os.listdir(root)):
    for ds in sorted(os.listdir(os.path.join(root, preset))) if os.path.isdir(os.path.join(root, preset)) else []:
      for mask in ("center", "pattern", "random", "half"):
        base = os.path.join(root, preset, ds, mask)
        try:
          a, b = _scores(os.path.join(base, "float32")), _scores(os.path.join(base, "bfloat16"))
        except OSError:
          continue
        ids = sorted(set(a) & set(b))
        pa, la = np.array([a[i] for i in ids]).T
        pb, lb = np.array([b[i] for i in ids]).T
        d, dl = pb - pa, lb - la
        se = d.std(ddof=1) / np.sqrt(len(d))
        print(f"| {preset} | {ds} | {mask} | {len(ids)} | {pa.mean():.2f} | {d.mean():+.3f} ± "
              f"{se:.3f} | {la.mean():.3f} | {dl.mean():+.4f} | "
              f"{'yes' if abs(d.mean()) <= 0.05 else 'no'} |")


if __name__ == "__main__":
  main(sys.argv[1])
