import jax.numpy as jnp
import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from inpaint_jax.core import blend


def _direct_solve(y, g, m):
  """Eq. 4 assembled as an explicit sparse system per channel and solved with spsolve."""
  h, w, c = y.shape
  unknown = np.argwhere(m == 0)
  index = -np.ones((h, w), int)
  for k, (i, j) in enumerate(unknown):
    index[i, j] = k
  out = y.astype(np.float64).copy()
  if len(unknown) == 0:
    return out
  rows, cols, vals = [], [], []
  rhs = np.zeros((len(unknown), c))
  for k, (i, j) in enumerate(unknown):
    nbrs = [(i + di, j + dj) for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= i + di < h and 0 <= j + dj < w]  # Neumann: outside neighbours drop out
    rows.append(k); cols.append(k); vals.append(len(nbrs))
    for a, b in nbrs:
      rhs[k] += g[i, j] - g[a, b]
      if m[a, b] == 0:
        rows.append(k); cols.append(index[a, b]); vals.append(-1.0)
      else:
        rhs[k] += y[a, b]
  mat = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(unknown),) * 2)
  for ch in range(c):
    out[unknown[:, 0], unknown[:, 1], ch] = scipy.sparse.linalg.spsolve(mat, rhs[:, ch])
  return out


def _cases(n, size=16, seed=0):
  rng = np.random.default_rng(seed)
  y = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
  g = rng.uniform(-1, 1, (n, size, size, 3)).astype(np.float32)
  m = np.ones((n, size, size), np.float32)
  for k in range(n):
    kind = k % 3
    if kind == 0:  # a block touching the border
      a, b = rng.integers(0, size // 2, 2)
      m[k, a:a + size // 2 + 2, b:] = 0
    elif kind == 1:  # scattered pixels
      m[k] = rng.random((size, size)) > 0.6
    else:  # a central block
      m[k, 4:12, 3:13] = 0
  return y, g, m


def test_blend_matches_a_direct_sparse_solve():
  y, g, m = _cases(6)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m)))
  for k in range(len(y)):
    ref = _direct_solve(y[k], g[k], m[k])
    assert np.abs(out[k] - ref).max() < 1e-4, k


def test_known_pixels_are_exact_and_identity_cases():
  y, g, m = _cases(3, seed=1)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.asarray(m)))
  known = np.broadcast_to(m[..., None] > 0, y.shape)
  assert np.array_equal(out[known], y[known])  # bit for bit
  same = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(y), jnp.asarray(m)))
  np.testing.assert_allclose(same, y, atol=1e-5)
  empty = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.ones_like(jnp.asarray(m))))
  assert np.array_equal(empty, y)


def test_blend_removes_a_constant_offset():
  # G(ẑ) right up to a brightness shift: blending restores y exactly (gradients match).
  y, _, m = _cases(3, seed=2)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(y + 0.3), jnp.asarray(m)))
  np.testing.assert_allclose(out, y, atol=1e-4)


def test_all_missing_returns_the_generated_image():
  y, g, _ = _cases(1, seed=3)
  out = np.asarray(blend.poisson_blend(jnp.asarray(y), jnp.asarray(g), jnp.zeros((1, 16, 16))))
  np.testing.assert_allclose(out, g, atol=1e-6)
