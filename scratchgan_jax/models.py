"""ScratchGAN generator and discriminator (Haiku), as pure functions.

Generator: embedding matrix E = [frozen pretrained part || trainable part];
previous token's embedding -> linear map to the LSTM width -> LSTM stack with
skip connections (each layer after the first also receives the projected input;
the output is the concatenation of all layers' outputs) -> linear map back to
dim(E) -> dot product with the same E -> + bias -> softmax. The first input is
PAD (id 0); with `eos`, everything after the first PAD is PAD and masked.

Discriminator: its own embedding matrix (same structure), dropout on the whole
matrix while training, an 8-dim fixed position signal concatenated to each
token embedding, linear map, layer-normalised LSTM, linear map to one logit per
step D(x_t | x_<t); logits past the first PAD are zero.

`make_generator` / `make_discriminator` return NamedTuples of pure functions
(`init`, `sample`, `log_prob`, `apply`) that a notebook can call directly.

Speed: training never backpropagates through the sampling loop. Samples are
drawn without gradient, then rescored by teacher forcing, where the input
projections and the vocabulary projection are single large matmuls outside the
recurrence. For discrete samples this gives exactly the REINFORCE gradient of
backpropagating through the sampler.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np

from scratchgan_jax import data as data_lib

PAD_ID = data_lib.PAD_ID
POSITION_DIM = 8


# ----------------------------------------------------------------------------
# Masks and position signal.


def first_pad_length(sequence: jax.Array, eos: bool = True) -> jax.Array:
  """[B] index just after the first PAD (T when there is none, or not eos)."""
  B, T = sequence.shape
  if not eos:
    return jnp.full((B,), T, jnp.int32)
  is_pad = sequence == PAD_ID
  return jnp.where(is_pad.any(1), jnp.argmax(is_pad, 1) + 1, T).astype(jnp.int32)


def sequence_mask(sequence: jax.Array, eos: bool = True) -> jax.Array:
  """[B, T] True up to and including the first PAD (all True if not eos)."""
  T = sequence.shape[1]
  return jnp.arange(T)[None, :] < first_pad_length(sequence, eos)[:, None]


def position_signal(length: int, kind: str = 'paper',
                    dim: int = POSITION_DIM) -> np.ndarray:
  """[length, dim] fixed position signal of the discriminator.

  paper (App. G): p_t^i = sin(2 pi t / T_i), periods T_i log-linearly spaced
    from 2 to 4 * length.
  code: the original implementation, cos(pi (t / P_i + s_i)) with P_i
    log-spaced from 2 to `length` and shifts s_i = linspace(0, 2, dim)
    (effective periods 4 .. 2 * length).
  """
  t = np.arange(length, dtype=np.float64)[:, None]
  if kind == 'paper':
    periods = np.exp(np.linspace(np.log(2.0), np.log(4.0 * length), dim))
    sig = np.sin(2.0 * np.pi * t / periods[None, :])
  elif kind == 'code':
    periods = np.exp(np.linspace(np.log(2.0), np.log(float(length)), dim))
    shifts = np.linspace(0.0, 2.0, dim)[None, :]
    sig = np.cos(np.pi * (t / periods[None, :] + shifts))
  elif kind == 'none':
    sig = np.zeros((length, 0))
  else:
    raise ValueError(f'unknown position signal {kind!r}')
  return sig.astype(np.float32)


# ----------------------------------------------------------------------------
# Building blocks.


def _embedding_matrix(vocab_size: int, trainable_size: int,
                      pretrained: np.ndarray | None, train_pretrained: bool,
                      glorot_trainable: bool = False):
  """[V, P + M]: frozen pretrained part (if any) || trainable part.

  The trainable part starts at GloVe's scale beside a GloVe part (the
  original), else (or with `glorot_trainable`) Glorot-uniform."""
  parts = []
  if pretrained is not None:
    pre = hk.get_parameter('pretrained_embedding', pretrained.shape,
                           init=hk.initializers.Constant(pretrained))
    parts.append(pre if train_pretrained else jax.lax.stop_gradient(pre))
  if pretrained is not None and not glorot_trainable:
    init = hk.initializers.RandomNormal(stddev=data_lib.GLOVE_STD)
  else:
    init = hk.initializers.VarianceScaling(1.0, 'fan_avg', 'uniform')  # Glorot.
  if trainable_size:
    parts.append(hk.get_parameter('trainable_embedding',
                                  (vocab_size, trainable_size), init=init))
  return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=1)


def _dropout_matrix(matrix, rate: float, is_training: bool):
  if is_training and rate > 0:
    return hk.dropout(hk.next_rng_key(), rate, matrix)
  return matrix


class LSTMStack(hk.Module):
  """LSTM layers with skip connections and hoisted input projections.

  Layer l's gates are  x W_l + [h_{l-1}] P_l + h_l U_l + b_l  (the P term for
  l > 0), optionally layer-normalised before the bias; forget bias +1. The
  `x W_l` terms of all layers are computed for all steps at once when the
  whole input sequence is known (`unroll`).
  """

  def __init__(self, hidden: int, num_layers: int, layer_norm: bool = False,
               name: str | None = None):
    super().__init__(name=name)
    self.hidden = hidden
    self.num_layers = num_layers
    self.layer_norm = layer_norm

  def _weights(self, input_size: int):
    H, ws = self.hidden, []
    for l in range(self.num_layers):
      fan_in = input_size + H * (2 if l else 1)
      init = hk.initializers.TruncatedNormal(1.0 / math.sqrt(fan_in))
      w = {
          'wx': hk.get_parameter(f'w_input_{l}', (input_size, 4 * H), init=init),
          'u': hk.get_parameter(f'w_recurrent_{l}', ((2 if l else 1) * H, 4 * H),
                                init=init),
          'b': hk.get_parameter(f'bias_{l}', (4 * H,), init=jnp.zeros),
      }
      if self.layer_norm:
        w['ln_scale'] = hk.get_parameter(f'ln_scale_{l}', (4 * H,), init=jnp.ones)
        w['ln_offset'] = hk.get_parameter(f'ln_offset_{l}', (4 * H,), init=jnp.zeros)
      ws.append(w)
    return ws

  def initial_state(self, batch_size: int, dtype=jnp.float32):
    z = jnp.zeros((batch_size, self.hidden), dtype)
    return tuple((z, z) for _ in range(self.num_layers))

  def _cell(self, w, gates, c):
    """Gate pre-activations (input and recurrent terms, no bias) -> (h, c)."""
    if self.layer_norm:
      g32 = gates.astype(jnp.float32)
      mean = g32.mean(-1, keepdims=True)
      var = ((g32 - mean) ** 2).mean(-1, keepdims=True)
      gates = ((g32 - mean) * jax.lax.rsqrt(var + 1e-5) * w['ln_scale']
               + w['ln_offset'])
    gates = gates.astype(jnp.float32) + w['b']
    i, g, f, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, c

  def step_fn(self, input_size: int, dtype=jnp.float32):
    """Returns step(x [B, I], state) -> (concat outputs [B, L*H], state)."""
    ws = self._weights(input_size)
    # In float32, one matmul per layer and step: [x, h_{l-1}, h_l] @
    # [W_l; P_l; U_l] (stacked once, outside the loop) instead of an input and
    # a recurrent product; small matmuls on CPU are dominated by per-call cost.
    # Otherwise, as in `unroll`: input term in `dtype`, recurrent in float32.
    fused = dtype == jnp.float32
    if fused:
      stacked = [jnp.concatenate([w['wx'], w['u']], 0) for w in ws]

    def step(x, state):
      new_state, outs, below = [], [], None
      for l, w in enumerate(ws):
        h, c = state[l]
        rec_in = h if below is None else jnp.concatenate([below, h], -1)
        if fused:
          gates = jnp.concatenate([x.astype(jnp.float32), rec_in], -1) @ stacked[l]
        else:
          gates = ((x.astype(dtype) @ w['wx'].astype(dtype)).astype(jnp.float32)
                   + rec_in.astype(dtype) @ w['u'].astype(jnp.float32))
        h, c = self._cell(w, gates, c)
        new_state.append((h, c))
        outs.append(h)
        below = h
      return jnp.concatenate(outs, -1), tuple(new_state)

    return step

  def unroll(self, x: jax.Array, dtype=jnp.float32, with_cells: bool = False):
    """x [B, T, I] -> concatenated outputs [B, T, L*H] (teacher forcing);
    with `with_cells`, (outputs, cells), the cells concatenated the same way."""
    B, T, I = x.shape
    ws = self._weights(I)
    # Hoisted: one [B*T, I] x [I, 4H*L] matmul for every layer's input term.
    wx = jnp.concatenate([w['wx'] for w in ws], axis=1).astype(dtype)
    xg_all = (x.astype(dtype) @ wx).astype(jnp.float32)  # [B, T, 4H*L]
    xg_all = jnp.swapaxes(xg_all, 0, 1)  # time-major for scan

    def body(state, xg_t):
      new_state, outs, below = [], [], None
      for l, w in enumerate(ws):
        h, c = state[l]
        xg = xg_t[:, l * 4 * self.hidden:(l + 1) * 4 * self.hidden]
        rec_in = h if below is None else jnp.concatenate([below, h], -1)
        h, c = self._cell(w, xg + rec_in.astype(dtype) @ w['u'].astype(xg.dtype), c)
        new_state.append((h, c))
        outs.append(h)
        below = h
      out = jnp.concatenate(outs, -1)
      if with_cells:
        out = (out, jnp.concatenate([c for _, c in new_state], -1))
      return tuple(new_state), out

    _, outs = hk.scan(body, self.initial_state(B), xg_all)
    if with_cells:
      return tuple(jnp.swapaxes(o, 0, 1) for o in outs)
    return jnp.swapaxes(outs, 0, 1)

  def step_candidates(self, table: jax.Array, pos: jax.Array, candidates: jax.Array,
                      h_prev: jax.Array, c_prev: jax.Array, dtype=jnp.float32) -> jax.Array:
    """Step t of the stack for each of k candidate inputs at every position.

    The input at (b, t) for candidate j is table[candidates[b, t, j]] + pos[t]
    (table [V, I], pos [T, I]); the state is the one after step t - 1 of a
    teacher-forced pass (h_prev, c_prev [B, T, L*H], layers concatenated,
    zeros at t = 0). Returns the concatenated outputs [B, T, k, L*H]: what
    `unroll` would output at t had x_t been each candidate. The input terms
    are gathered from the projected table, so the cost per candidate is the
    cell's elementwise work (plus, above layer 0, the product with the layer
    below's candidate output).
    """
    ws = self._weights(table.shape[1])
    H, outs, below = self.hidden, [], None
    for l, w in enumerate(ws):
      wx = w['wx'].astype(dtype)
      xg = ((table.astype(dtype) @ wx).astype(jnp.float32)[candidates]
            + (pos.astype(dtype) @ wx).astype(jnp.float32)[None, :, None])
      h = h_prev[..., l * H:(l + 1) * H]
      c = c_prev[..., l * H:(l + 1) * H][..., None, :]
      u = w['u'].astype(jnp.float32)
      rec = (h.astype(jnp.float32) @ u[-H:])[..., None, :]  # the same for every candidate
      if below is not None:
        rec = rec + below @ u[:H]
      h, _ = self._cell(w, xg + rec, c)
      outs.append(h)
      below = h
    return jnp.concatenate(outs, -1)


def step_entropy(lp: jax.Array) -> jax.Array:
  """-sum_v p(v) log p(v) [...] of log-probabilities lp [..., V], in nats."""
  return -(jnp.exp(lp) * lp).sum(axis=-1)


def take_token(lp: jax.Array, tokens: jax.Array) -> jax.Array:
  """lp[..., tokens] for lp [..., V] and int tokens [...], with a cheap gradient.

  Same values and the same gradient bits as `take_along_axis`, whose
  transpose is a scatter-add into a [..., V] zero array; a scatter runs
  element by element on CPU, while this gradient is one fused select
  (its effect on the step: BENCHMARKS.md, "The step against PyTorch").
  """
  V = lp.shape[-1]

  def pick(lp, tokens):
    return jnp.take_along_axis(lp, tokens[..., None], axis=-1)[..., 0]

  @jax.custom_vjp
  def f(lp, tokens):
    return pick(lp, tokens)

  def fwd(lp, tokens):
    return pick(lp, tokens), tokens

  def bwd(tokens, g):
    hot = jnp.arange(V, dtype=tokens.dtype) == tokens[..., None]
    return jnp.where(hot, g[..., None], jnp.zeros((), g.dtype)), None

  f.defvjp(fwd, bwd)
  return f(lp, tokens)


# ----------------------------------------------------------------------------
# Sampling.


def inverse_cdf_draw(logits: jax.Array, u: jax.Array, block: int = 64) -> jax.Array:
  """One token per row of `logits` [B, V] from softmax(logits), given u [B] in [0, 1).

  Inverse CDF: the token is the first index whose cumulative probability
  exceeds u (one uniform per row instead of V Gumbel variates). Done in two
  levels, so nothing of size V is scanned: the unnormalised probabilities are
  cut into blocks of `block`, the block is found from the cumulative block
  masses, and only that block's `block` probabilities are accumulated, instead
  of a cumsum over all V (which XLA rewrites into a tree of windowed sums;
  timings: BENCHMARKS.md, "The step against PyTorch").

  Zero-probability tokens are never drawn, also at u = 0 and where rounding
  puts u * total at or past the last cumulative mass (clamped to the last
  block, and the last token, that has mass). Returns int32 [B].
  """
  B, V = logits.shape
  nb = -(-V // block)
  w = jnp.exp(logits - logits.max(-1, keepdims=True))  # max element: 1
  w = jnp.pad(w, ((0, 0), (0, nb * block - V))).reshape(B, nb, block)
  mass = w.sum(-1)  # [B, nb]
  cmass = jnp.cumsum(mass, -1)
  r = u * cmass[:, -1]
  last_block = nb - 1 - jnp.argmax(mass[:, ::-1] > 0, -1)
  # `<=` skips zero-mass blocks and tokens (never PAD when PAD has no mass).
  j = jnp.minimum((cmass <= r[:, None]).sum(-1), last_block)
  before = jnp.where(
      j > 0, jnp.take_along_axis(cmass, jnp.maximum(j - 1, 0)[:, None], 1)[:, 0], 0.0)
  wj = jnp.take_along_axis(w, j[:, None, None], 1)[:, 0]  # [B, block]
  last_tok = block - 1 - jnp.argmax(wj[:, ::-1] > 0, -1)
  k = jnp.minimum((jnp.cumsum(wj, -1) <= (r - before)[:, None]).sum(-1), last_tok)
  return (j * block + k).astype(jnp.int32)


# ----------------------------------------------------------------------------
# Generator.


class Generator(hk.Module):
  """Autoregressive LSTM language model with tied input/output embeddings."""

  def __init__(self, vocab_size: int, max_length: int, *, feature_size: int = 512,
               num_layers: int = 2, trainable_embedding_size: int = 64,
               pretrained: np.ndarray | None = None,
               train_pretrained: bool = False, embedding_dropout: float = 0.0,
               eos: bool = True, compute_dtype=jnp.float32,
               glorot_trainable: bool = False, name='generator'):
    super().__init__(name=name)
    self.vocab_size = vocab_size
    self.max_length = max_length
    self.H = feature_size
    self.num_layers = num_layers
    self.m = trainable_embedding_size
    self.pretrained = pretrained
    self.train_pretrained = train_pretrained
    self.glorot_trainable = glorot_trainable
    self.dropout = embedding_dropout
    self.eos = eos
    self.dtype = compute_dtype
    self.core = LSTMStack(feature_size, num_layers, name='lstm')

  def _params(self):
    E = _embedding_matrix(self.vocab_size, self.m, self.pretrained,
                          self.train_pretrained, self.glorot_trainable)
    D = E.shape[1]
    init = hk.initializers.TruncatedNormal(1.0 / math.sqrt(D))
    in_proj = hk.get_parameter('in_proj', (D, self.H), init=init)
    if self.num_layers > 1:  # Output has L*H features: its own projection.
      out_proj = hk.get_parameter(
          'out_proj', (self.num_layers * self.H, D),
          init=hk.initializers.TruncatedNormal(
              1.0 / math.sqrt(self.num_layers * self.H)))
    else:  # As in the original, one layer reuses in_proj transposed.
      out_proj = in_proj.T
    bias = hk.get_parameter('out_bias', (self.vocab_size,), init=jnp.zeros)
    return E, in_proj, out_proj, bias, self.core

  def _logits(self, outputs, out_proj, E_out, bias):
    dt = self.dtype
    proj = outputs.astype(dt) @ out_proj.astype(dt)
    return (proj @ E_out.T.astype(dt)).astype(jnp.float32) + bias

  def _features(self, sequence, E_in, in_proj, core):
    B = sequence.shape[0]
    inputs = jnp.concatenate(
        [jnp.full((B, 1), PAD_ID, sequence.dtype), sequence[:, :-1]], axis=1)
    # Project the table, then gather: V*D*H flops instead of B*T*D*H, and no
    # gather->dot pattern (whose compiled form varies with the shard size).
    x = (E_in.astype(self.dtype) @ in_proj.astype(self.dtype))[inputs]
    return core.unroll(x, self.dtype)

  def features(self, sequence: jax.Array) -> jax.Array:
    """Teacher-forced LSTM outputs [B, T, L*H] (no dropout): step t's is a
    function of x_<t only, the state the generator draws x_t from."""
    E, in_proj, _, _, core = self._params()
    return self._features(sequence, E, in_proj, core)

  def logits(self, sequence: jax.Array, is_training: bool = False) -> jax.Array:
    """Teacher-forced logits [B, T, V]: step t sees PAD, x_0, ..., x_{t-1}."""
    E, in_proj, out_proj, bias, core = self._params()
    E_in = _dropout_matrix(E, self.dropout, is_training)
    E_out = _dropout_matrix(E, self.dropout, is_training)
    outputs = self._features(sequence, E_in, in_proj, core)
    return self._logits(outputs, out_proj, E_out, bias)

  def log_prob(self, sequence: jax.Array, is_training: bool = False,
               temperature: float = 1.0) -> jax.Array:
    """Per-token log p(x_t | x_<t) [B, T], zero past the first PAD."""
    logits = self.logits(sequence, is_training) / temperature
    lp = jax.nn.log_softmax(logits, axis=-1)
    return take_token(lp, sequence) * sequence_mask(sequence, self.eos)

  def log_softmax(self, sequence: jax.Array, is_training: bool = False) -> jax.Array:
    """Teacher-forced log p(. | x_<t) over the whole vocabulary [B, T, V]
    (not masked)."""
    return jax.nn.log_softmax(self.logits(sequence, is_training), axis=-1)

  def log_prob_entropy(self, sequence: jax.Array, is_training: bool = False):
    """(log p(x_t | x_<t), H(p(. | x_<t))) [B, T] each, from one teacher-forced
    pass; both zero past the first PAD. H is the exact entropy of the step's
    distribution over the whole vocabulary, in nats."""
    lp = jax.nn.log_softmax(self.logits(sequence, is_training), axis=-1)
    mask = sequence_mask(sequence, self.eos)
    return take_token(lp, sequence) * mask, step_entropy(lp) * mask

  def sample(self, keys: jax.Array, batch_size: int, temperature: float = 1.0):
    """Draws `batch_size` sequences per key of `keys` [n], in one pass.

    Returns (sequence [n * B, T], length [n * B]); rows i*B .. (i+1)*B - 1
    are drawn with keys[i], the same rows a pass with keys[i] alone draws.
    The sequence is PAD after the first PAD when `eos`. Not differentiable:
    rescore with `log_prob` for gradients.
    """
    E, in_proj, out_proj, bias, core = self._params()
    n = keys.shape[0]
    rows = n * batch_size
    step = core.step_fn(self.H, self.dtype)
    # [T, n] keys: one uniform per row and step, each key's rows in order.
    step_keys = jnp.swapaxes(jax.vmap(lambda k: jax.random.split(k, self.max_length))(keys),
                             0, 1)
    dt = self.dtype

    table = E.astype(dt) @ in_proj.astype(dt)  # [V, H] projected inputs

    def body(carry, ks):
      state, prev = carry
      x = table[prev]
      out, state = step(x, state)
      logits = self._logits(out, out_proj, E, bias) / temperature
      u = jax.vmap(lambda k: jax.random.uniform(k, (batch_size,)))(ks).reshape(rows)
      tok = inverse_cdf_draw(logits, u)
      return (state, tok), tok

    init = (core.initial_state(rows), jnp.full((rows,), PAD_ID, jnp.int32))
    _, toks = hk.scan(body, init, step_keys)
    sequence = jax.lax.stop_gradient(toks.T)
    mask = sequence_mask(sequence, self.eos)
    sequence = jnp.where(mask, sequence, PAD_ID)
    return sequence, first_pad_length(sequence, self.eos)


class GeneratorFns(NamedTuple):
  """Pure functions of the generator (parameters are explicit arguments).

  init(rng) -> params
  sample(params, rng, batch_size, temperature=1.0) -> (sequence [B,T], length [B])
    (rng: one key, or n keys stacked: n * B rows, each key's B in order)
  log_prob(params, sequence, rng=None, is_training=False, temperature=1.0) -> [B,T]
  logits(params, sequence) -> [B,T,V]
  log_prob_entropy(params, sequence, rng=None, is_training=False) -> ([B,T], [B,T])
  features(params, sequence) -> [B,T,L*H] (the LSTM outputs that give step t's logits)
  log_softmax(params, sequence, rng=None, is_training=False) -> [B,T,V]
  """
  init: Callable
  sample: Callable
  log_prob: Callable
  logits: Callable
  log_prob_entropy: Callable
  features: Callable
  log_softmax: Callable


def make_generator(vocab_size: int, max_length: int, **module_kwargs) -> GeneratorFns:
  """Pure functions of a `Generator(vocab_size, max_length, **module_kwargs)`
  (its keyword arguments and their defaults are the module's)."""
  module = functools.partial(Generator, vocab_size, max_length, **module_kwargs)

  def f():
    g = module()

    def init(sequence):
      return g.log_prob(sequence)

    return init, (g.sample, g.log_prob, g.logits, g.log_prob_entropy, g.features,
                  g.log_softmax)

  t = hk.multi_transform(f)
  (sample_apply, log_prob_apply, logits_apply, log_prob_entropy_apply,
   features_apply, log_softmax_apply) = t.apply
  dummy = jnp.zeros((1, max_length), jnp.int32)

  def init(rng):
    return t.init(rng, dummy)

  def sample(params, rng, batch_size: int, temperature: float = 1.0):
    # One key, or a stack of n keys: n * batch_size rows from one pass.
    if not jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
      rng = jax.random.wrap_key_data(rng)  # a raw uint32 key (jax.random.PRNGKey)
    keys = rng.reshape(-1)
    return sample_apply(params, None, keys, batch_size, temperature)

  def log_prob(params, sequence, rng=None, is_training: bool = False,
               temperature: float = 1.0):
    return log_prob_apply(params, rng, sequence, is_training, temperature)

  def logits(params, sequence):
    return logits_apply(params, None, sequence)

  def log_prob_entropy(params, sequence, rng=None, is_training: bool = False):
    return log_prob_entropy_apply(params, rng, sequence, is_training)

  def features(params, sequence):
    return features_apply(params, None, sequence)

  def log_softmax(params, sequence, rng=None, is_training: bool = False):
    return log_softmax_apply(params, rng, sequence, is_training)

  return GeneratorFns(init, sample, log_prob, logits, log_prob_entropy, features,
                      log_softmax)


# ----------------------------------------------------------------------------
# Discriminator.


class Discriminator(hk.Module):
  """Recurrent discriminator: one logit D(x_t | x_<t) per step."""

  def __init__(self, vocab_size: int, max_length: int, *, feature_size: int = 512,
               num_layers: int = 1, trainable_embedding_size: int = 64,
               pretrained: np.ndarray | None = None,
               train_pretrained: bool = False, dropout: float = 0.1,
               layer_norm: bool = True, position: str = 'paper',
               eos: bool = True, compute_dtype=jnp.float32,
               glorot_trainable: bool = False, name='discriminator'):
    super().__init__(name=name)
    self.vocab_size = vocab_size
    self.max_length = max_length
    self.H = feature_size
    self.num_layers = num_layers
    self.m = trainable_embedding_size
    self.pretrained = pretrained
    self.train_pretrained = train_pretrained
    self.glorot_trainable = glorot_trainable
    self.dropout = dropout
    self.layer_norm = layer_norm
    self.position = position
    self.eos = eos
    self.dtype = compute_dtype
    self.core = LSTMStack(feature_size, num_layers, layer_norm, name='lstm')

  def __call__(self, sequence: jax.Array, is_training: bool = True,
               candidates: jax.Array | None = None):
    """Logits [B, T]; with `candidates` [B, T, k] (token ids), also the logit
    D(x_<t, v) that each candidate v would get at step t in place of x_t
    ([B, T, k], from the same pass and dropout mask; 0 at masked steps)."""
    B, T = sequence.shape
    E = _embedding_matrix(self.vocab_size, self.m, self.pretrained,
                          self.train_pretrained, self.glorot_trainable)
    E = _dropout_matrix(E, self.dropout, is_training)
    pos = jnp.asarray(position_signal(T, self.position))
    D = E.shape[1] + pos.shape[1]
    w = hk.get_parameter('in_proj', (D, self.H),
                         init=hk.initializers.TruncatedNormal(1.0 / math.sqrt(D)))
    b = hk.get_parameter('in_bias', (self.H,), init=jnp.zeros)
    # Linear([emb_t || pos_t]) = (E W_e)[x_t] + pos_t W_p + b, with the table
    # projected before the gather (cheaper, and shard-size independent).
    dt = self.dtype
    w_e, w_p = w[:E.shape[1]].astype(dt), w[E.shape[1]:].astype(dt)
    table, pos_w = E.astype(dt) @ w_e, pos.astype(dt) @ w_p
    x = table[sequence] + pos_w[None] + b.astype(dt)
    if candidates is None:
      outputs = self.core.unroll(x, self.dtype)
    else:
      outputs, cells = self.core.unroll(x, self.dtype, with_cells=True)
    F = outputs.shape[-1]
    wo = hk.get_parameter('out_w', (F, 1),
                          init=hk.initializers.TruncatedNormal(1.0 / math.sqrt(F)))
    bo = hk.get_parameter('out_b', (1,), init=jnp.zeros)
    mask = sequence_mask(sequence, self.eos)
    logits = (outputs.astype(jnp.float32) @ wo + bo)[..., 0] * mask
    if candidates is None:
      return logits
    shift = lambda a: jnp.pad(a[:, :-1], ((0, 0), (1, 0), (0, 0)))  # state after t - 1
    cand_out = self.core.step_candidates(table, pos_w + b.astype(dt), candidates, shift(outputs),
                                         shift(cells), self.dtype)
    cand_logits = (cand_out.astype(jnp.float32) @ wo + bo)[..., 0] * mask[..., None]
    return logits, cand_logits


class DiscriminatorFns(NamedTuple):
  """init(rng) -> params;  apply(params, rng, sequence, is_training=True) -> [B,T];
  apply(..., candidates=[B,T,k]) -> ([B,T], [B,T,k]) (`Discriminator.__call__`)."""
  init: Callable
  apply: Callable


def make_discriminator(vocab_size: int, max_length: int,
                       **module_kwargs) -> DiscriminatorFns:
  """Pure functions of a `Discriminator(vocab_size, max_length, **module_kwargs)`
  (its keyword arguments and their defaults are the module's)."""

  def fwd(sequence, is_training=True, candidates=None):
    return Discriminator(vocab_size, max_length, **module_kwargs)(sequence, is_training,
                                                                   candidates)

  t = hk.transform(fwd)
  dummy = jnp.zeros((1, max_length), jnp.int32)

  def init(rng):
    return t.init(rng, dummy, False)

  def apply(params, rng, sequence, is_training: bool = True, candidates=None):
    return t.apply(params, rng, sequence, is_training, candidates)

  return DiscriminatorFns(init, apply)


def is_frozen(path: tuple, train_pretrained: bool) -> bool:
  """Whether a parameter (by tree path) is the frozen pretrained embedding."""
  return (not train_pretrained) and any(
      getattr(k, 'key', None) == 'pretrained_embedding' for k in path)
