"""Pieces of an adversarial training step shared by the DCGAN and the Context Encoder.

Both train a network F (G, or the CE's encoder-decoder) against the DCGAN discriminator D:
one D update on real vs. F's output, then one F update on a loss that looks through the
updated D. `adversarial_step` runs F forward once for both updates and pulls F's gradient
back through that same forward pass (`jax.vjp`).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import optax


class Net(flax.struct.PyTreeNode):
  """One network's training state: parameters, batch-norm statistics, optimiser state."""

  params: Any
  batch_stats: Any
  opt_state: Any

  @classmethod
  def create(cls, variables: dict, tx: optax.GradientTransformation) -> "Net":
    return cls(params=variables["params"], batch_stats=variables["batch_stats"],
               opt_state=tx.init(variables["params"]))

  def variables(self) -> dict:
    return {"params": self.params, "batch_stats": self.batch_stats}

  def apply_gradients(self, grads: Any, batch_stats: Any, tx: optax.GradientTransformation) -> "Net":
    updates, opt_state = tx.update(grads, self.opt_state, self.params)
    return Net(params=optax.apply_updates(self.params, updates), batch_stats=batch_stats,
               opt_state=opt_state)


def optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam (Radford et al.: lr 2e-4, beta1 0.5), used for every network of a run."""
  return optax.adam(config.learning_rate, b1=config.beta1, b2=config.beta2)


def ema_decay(decay: float, step: jax.Array) -> jax.Array:
  """The EMA's decay at optimiser step `step`: `decay`, ramped up over the first steps
  (`(1 + step) / (10 + step)`) so the average forgets the random initialisation quickly."""
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def ema_update(average: Any, new: Any, decay: jax.Array) -> Any:
  """average <- decay * average + (1 - decay) * new, leaf by leaf."""
  return jax.tree.map(lambda a, n: decay * a + (1.0 - decay) * n, average, new)


def _apply_train(module: nn.Module, net_params, batch_stats, x):
  out, upd = module.apply({"params": net_params, "batch_stats": batch_stats}, x, train=True,
                          mutable=["batch_stats"])
  return out, upd["batch_stats"]


def discriminator_update(d: Net, real: jax.Array, fake: jax.Array, discriminator: nn.Module,
                         tx: optax.GradientTransformation) -> tuple[Net, dict]:
  """One Adam step of D on real (label 1) and fake (label 0) images, [B, S, S, 3].

  Returns the new D and metrics {d_loss, d_real, d_fake} (mean D output on each).
  """

  def loss_fn(params):
    # Real and fake go through D separately, as in the reference DCGAN, so batch
    # statistics are never mixed across the two.
    real_logits, stats = _apply_train(discriminator, params, d.batch_stats, real)
    fake_logits, stats = _apply_train(discriminator, params, stats, fake)
    loss = (optax.sigmoid_binary_cross_entropy(real_logits, jnp.ones_like(real_logits)).mean()
            + optax.sigmoid_binary_cross_entropy(fake_logits, jnp.zeros_like(fake_logits)).mean())
    metrics = {"d_loss": loss, "d_real": jax.nn.sigmoid(real_logits).mean(),
               "d_fake": jax.nn.sigmoid(fake_logits).mean()}
    return loss, (stats, metrics)

  (_, (stats, metrics)), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
  return d.apply_gradients(grads, stats, tx), metrics


def non_saturating_loss(logits: jax.Array) -> jax.Array:
  """-log D(x) for images D should call real: the generator's side of the game."""
  return optax.sigmoid_binary_cross_entropy(logits, jnp.ones_like(logits)).mean()


def adversarial_step(f: Net, d: Net, f_input: jax.Array, real: jax.Array, *, network: nn.Module,
                     discriminator: nn.Module, tx: optax.GradientTransformation,
                     to_fake: Callable[[jax.Array], jax.Array],
                     f_loss: Callable[[jax.Array, Callable], tuple[jax.Array, dict]]
                     ) -> tuple[Net, Net, dict]:
  """D then F: one forward pass of F serves both updates.

  f_input: what F reads (z, or the masked image); real: [B, S, S, 3] real images.
  to_fake(out) is what D sees as fake; f_loss(out, d_logits) -> (loss, metrics), where
  d_logits(x) runs the updated D (training mode) on images x.
  """
  out, f_vjp, f_stats = jax.vjp(lambda p: _apply_train(network, p, f.batch_stats, f_input),
                                f.params, has_aux=True)
  d, d_metrics = discriminator_update(d, real, jax.lax.stop_gradient(to_fake(out)),
                                      discriminator, tx)
  d_logits = lambda x: _apply_train(discriminator, d.params, d.batch_stats, x)[0]
  (_, f_metrics), grad_out = jax.value_and_grad(lambda o: f_loss(o, d_logits), has_aux=True)(out)
  (grads,) = f_vjp(grad_out)
  return f.apply_gradients(grads, f_stats, tx), d, {**d_metrics, **f_metrics}
