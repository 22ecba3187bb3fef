"""A plain eager PyTorch implementation of the same DCGAN, search step and training step.

Only for `benchmarks/run.py` (the `bench` extra); the package never imports it.
For kernel 4 the layers align exactly with the Flax model and `load_flax_weights` makes
the two compute the same numbers (tests/test_benchmark.py checks it); for kernel 5
PyTorch's padding places the kernel one pixel differently, at identical cost.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def _pads(k: int) -> tuple[int, int]:
  """(padding, output_padding) of ConvTranspose2d / padding of Conv2d for an exact 2x."""
  return (k - 1) // 2, (k % 2)


class Generator(nn.Module):

  def __init__(self, ngf: int = 64, k: int = 4, z_dim: int = 100):
    super().__init__()
    self.top = 8 * ngf
    self.project = nn.Linear(z_dim, 16 * self.top, bias=False)
    self.bn0 = nn.BatchNorm2d(self.top, eps=1e-5, momentum=0.1)
    p, op = _pads(k)
    chans = [8 * ngf, 4 * ngf, 2 * ngf, ngf]
    self.deconvs = nn.ModuleList(
        nn.ConvTranspose2d(chans[i], chans[i + 1], k, 2, p, op, bias=False) for i in range(3))
    self.bns = nn.ModuleList(nn.BatchNorm2d(chans[i + 1], eps=1e-5, momentum=0.1) for i in range(3))
    self.out = nn.ConvTranspose2d(ngf, 3, k, 2, p, op, bias=True)

  def forward(self, z):
    x = F.relu(self.bn0(self.project(z).view(-1, self.top, 4, 4)))
    for deconv, bn in zip(self.deconvs, self.bns):
      x = F.relu(bn(deconv(x)))
    return torch.tanh(self.out(x))


class Discriminator(nn.Module):

  def __init__(self, ndf: int = 64, k: int = 4):
    super().__init__()
    p, _ = _pads(k)
    chans = [3, ndf, 2 * ndf, 4 * ndf, 8 * ndf]
    self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], k, 2, p, bias=(i == 0))
                               for i in range(4))
    self.bns = nn.ModuleList(nn.BatchNorm2d(chans[i + 1], eps=1e-5, momentum=0.1) for i in range(1, 4))
    self.logit = nn.Linear(16 * 8 * ndf, 1)

  def forward(self, x):
    x = F.leaky_relu(self.convs[0](x), 0.2)
    for conv, bn in zip(self.convs[1:], self.bns):
      x = F.leaky_relu(bn(conv(x)), 0.2)
    return self.logit(x.flatten(1))[:, 0]


def _t(a):
  return torch.from_numpy(np.array(a, np.float32))  # a writable copy


def load_flax_weights(g: Generator, d: Discriminator, g_vars, d_vars) -> None:
  """Copies Flax parameters and running statistics into the PyTorch modules (kernel 4)."""
  gp, gs = g_vars["params"], g_vars["batch_stats"]
  top = g.top
  # Flax reshapes the projection NHWC (index (h*4+w)*C + c); PyTorch NCHW (c*16 + h*4 + w).
  w = np.asarray(gp["project"]["kernel"]).reshape(-1, 4, 4, top).transpose(0, 3, 1, 2).reshape(-1, 16 * top)
  with torch.no_grad():
    g.project.weight.copy_(_t(w.T))
    bn_names = ["bn_project", "bn_deconv0", "bn_deconv1", "bn_deconv2"]
    for bn, name in zip([g.bn0, *g.bns], bn_names):
      bn.weight.copy_(_t(gp[name]["scale"])); bn.bias.copy_(_t(gp[name]["bias"]))
      bn.running_mean.copy_(_t(gs[name]["mean"])); bn.running_var.copy_(_t(gs[name]["var"]))
    # lax.conv_transpose correlates the dilated input with the kernel as stored; PyTorch's
    # transposed conv uses it flipped, [in, out, k, k].
    for i, deconv in enumerate([*g.deconvs, g.out]):
      kern = np.asarray(gp[f"deconv{i}"]["kernel"])[::-1, ::-1]
      deconv.weight.copy_(_t(kern.transpose(2, 3, 0, 1)))
    g.out.bias.copy_(_t(gp["deconv3"]["bias"]))
    dp, ds = d_vars["params"], d_vars["batch_stats"]
    for i, conv in enumerate(d.convs):
      conv.weight.copy_(_t(np.asarray(dp[f"conv{i}"]["kernel"]).transpose(3, 2, 0, 1)))
    d.convs[0].bias.copy_(_t(dp["conv0"]["bias"]))
    for i, bn in enumerate(d.bns, start=1):
      name = f"bn_conv{i}"
      bn.weight.copy_(_t(dp[name]["scale"])); bn.bias.copy_(_t(dp[name]["bias"]))
      bn.running_mean.copy_(_t(ds[name]["mean"])); bn.running_var.copy_(_t(ds[name]["var"]))
    c = d.logit.in_features // 16
    lw = np.asarray(dp["logit"]["kernel"]).reshape(4, 4, c, 1).transpose(2, 0, 1, 3).reshape(-1, 1)
    d.logit.weight.copy_(_t(lw.T)); d.logit.bias.copy_(_t(dp["logit"]["bias"]))


def _autocast(bf16: bool):
  """bfloat16 autocast on the CPU (PyTorch's mixed precision: convolutions and matrix
  products in bfloat16, float32 weights and reductions), or nothing."""
  return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)


def search(g, d, images, weights, z0, iterations, lr=0.01, prior_weight=0.003, bf16=False):
  """The same search as inpaint_jax.search (one restart): images NCHW, weights [B, H, W]."""
  g.eval(); d.eval()
  for p in list(g.parameters()) + list(d.parameters()):
    p.requires_grad_(False)
  z = z0.clone().requires_grad_(True)
  opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999), eps=1e-8)
  w = weights[:, None]
  for _ in range(iterations):
    opt.zero_grad(set_to_none=True)
    with _autocast(bf16):
      x = g(z).float()
      logit = d(x).float()
    loss = (w * (x - images)).abs().sum() - prior_weight * F.softplus(logit).sum()
    loss.backward()
    opt.step()
    with torch.no_grad():
      z.clamp_(-1.0, 1.0)
  return z.detach()


def train_steps(g, d, images, steps, z_dim=100, lr=2e-4, bf16=False):
  g.train(); d.train()
  for p in list(g.parameters()) + list(d.parameters()):
    p.requires_grad_(True)
  opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  b = images.shape[0]
  for _ in range(steps):
    z = torch.rand(b, z_dim) * 2 - 1
    with _autocast(bf16):
      fake = g(z)
    opt_d.zero_grad(set_to_none=True)
    with _autocast(bf16):
      real_logit, fake_logit = d(images).float(), d(fake.detach()).float()
    d_loss = bce(real_logit, torch.ones(b)) + bce(fake_logit, torch.zeros(b))
    d_loss.backward(); opt_d.step()
    opt_g.zero_grad(set_to_none=True)
    with _autocast(bf16):
      g_logit = d(fake).float()
    g_loss = bce(g_logit, torch.ones(b))
    g_loss.backward(); opt_g.step()


def bench_search(ngf, k, batch, iterations=5, threads=None, bf16=False):
  """image-iterations/s of the PyTorch search step (bf16: under bfloat16 autocast)."""
  if threads:
    torch.set_num_threads(threads)
  g, d = Generator(ngf, k), Discriminator(ngf, k)
  images = torch.rand(batch, 3, 64, 64) * 2 - 1
  weights = torch.rand(batch, 64, 64)
  z0 = torch.rand(batch, 100) * 2 - 1
  search(g, d, images, weights, z0, 1, bf16=bf16)  # warm-up
  start = time.perf_counter()
  search(g, d, images, weights, z0, iterations, bf16=bf16)
  return batch * iterations / (time.perf_counter() - start)


def bench_train(ngf, k, batch=64, steps=3, threads=None, bf16=False):
  """steps/s of the PyTorch training step (bf16: under bfloat16 autocast)."""
  if threads:
    torch.set_num_threads(threads)
  g, d = Generator(ngf, k), Discriminator(ngf, k)
  images = torch.rand(batch, 3, 64, 64) * 2 - 1
  train_steps(g, d, images, 1, bf16=bf16)
  start = time.perf_counter()
  train_steps(g, d, images, steps, bf16=bf16)
  return steps / (time.perf_counter() - start)
