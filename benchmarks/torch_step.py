#!/usr/bin/env python3
"""The cpu-bench ScratchGAN step written carefully in PyTorch, for comparison.

    pip install torch==2.13.0      # CPU build
    python benchmarks/torch_step.py [--threads=2] [--steps=10]

Same shapes and semantics as `benchmarks/step_time.py --preset=cpu-bench`
(batch 64, length 52, vocabulary 5000, generator 2x256 with skip connections and
tied embeddings, discriminator 1x256 layer-normalised LSTM with embedding-matrix
dropout and the 8-dim position signal, trainable embedding 64): sampling runs
under no_grad with the fused single-step nn.LSTM; the sampled batch is rescored
by the fused multi-step nn.LSTM (one per layer, for the skip connections); the
discriminator's input projection is one matmul outside its recurrence. One
discriminator update, then one generator update on fresh samples, Adam b1=0.5.
"""
import argparse
import json
import math
import os
import platform
import sys
import time

import torch
from torch import nn

import host  # benchmarks/host.py

V, T, B, H, M, POS = 5000, 52, 64, 256, 64, 8


def position_signal(length, dim=POS):
  t = torch.arange(length, dtype=torch.float32)[:, None]
  periods = torch.exp(torch.linspace(math.log(2.0), math.log(4.0 * length), dim))
  return torch.sin(2 * math.pi * t / periods[None])


class Generator(nn.Module):
  def __init__(self):
    super().__init__()
    self.emb = nn.Parameter(torch.randn(V, M) * 0.05)
    self.in_proj = nn.Linear(M, H, bias=False)
    self.l1 = nn.LSTM(H, H)
    self.l2 = nn.LSTM(2 * H, H)
    self.out_proj = nn.Linear(2 * H, M, bias=False)
    self.bias = nn.Parameter(torch.zeros(V))

  def logits(self, out):
    return self.out_proj(out) @ self.emb.T + self.bias

  @torch.no_grad()
  def sample(self, b):
    table = self.in_proj(self.emb)  # [V, H]
    prev = torch.zeros(b, dtype=torch.long)
    s1 = s2 = None
    toks = []
    for _ in range(T):
      x = table[prev][None]
      h1, s1 = self.l1(x, s1)
      h2, s2 = self.l2(torch.cat([x, h1], -1), s2)
      probs = torch.softmax(self.logits(torch.cat([h1, h2], -1)[0]), -1)
      prev = torch.multinomial(probs, 1)[:, 0]
      toks.append(prev)
    seq = torch.stack(toks, 1)
    is_pad = seq == 0
    first = torch.where(is_pad.any(1), is_pad.float().argmax(1) + 1, torch.full((b,), T))
    mask = torch.arange(T)[None] < first[:, None]
    return seq * mask, mask

  def log_prob(self, seq, mask):
    inp = torch.cat([torch.zeros_like(seq[:, :1]), seq[:, :-1]], 1)
    x = self.in_proj(self.emb)[inp].transpose(0, 1)  # [T, B, H]
    h1, _ = self.l1(x)
    h2, _ = self.l2(torch.cat([x, h1], -1))
    lp = torch.log_softmax(self.logits(torch.cat([h1, h2], -1)), -1)
    lp = lp.gather(-1, seq.T[..., None])[..., 0].T
    return lp * mask


class Discriminator(nn.Module):
  def __init__(self):
    super().__init__()
    self.emb = nn.Parameter(torch.randn(V, M) * 0.05)
    self.inp = nn.Linear(M + POS, H)
    self.wx = nn.Linear(H, 4 * H, bias=False)
    self.wh = nn.Linear(H, 4 * H, bias=False)
    self.ln = nn.LayerNorm(4 * H)
    self.b = nn.Parameter(torch.zeros(4 * H))
    self.out = nn.Linear(H, 1)
    self.register_buffer('pos', position_signal(T))

  def forward(self, seq, mask):
    e = nn.functional.dropout(self.emb, 0.1, self.training)[seq]
    x = self.inp(torch.cat([e, self.pos.expand(seq.shape[0], T, POS)], -1))
    xg = self.wx(x)  # hoisted input projection [B, T, 4H]
    h = c = torch.zeros(seq.shape[0], H)
    outs = []
    for t in range(T):
      g = self.ln(xg[:, t] + self.wh(h)) + self.b
      i, gg, f, o = g.chunk(4, -1)
      c = torch.sigmoid(f + 1) * c + torch.sigmoid(i) * torch.tanh(gg)
      h = torch.sigmoid(o) * torch.tanh(c)
      outs.append(h)
    return self.out(torch.stack(outs, 1))[..., 0] * mask


def step(gen, disc, g_opt, d_opt, real, real_mask, baseline):
  fake, fmask = gen.sample(B)
  ce = nn.functional.binary_cross_entropy_with_logits
  d_loss = (0.5 * ce(disc(real, real_mask), torch.ones(B, T))
            + 0.5 * ce(disc(fake, fmask), torch.zeros(B, T))
            + 1e-6 * sum((p ** 2).sum() / 2 for p in disc.parameters()))
  d_opt.zero_grad()
  d_loss.backward()
  d_opt.step()
  fake, fmask = gen.sample(B)
  with torch.no_grad():
    r = 2 * torch.sigmoid(disc(fake, fmask)) - 1
    ret = torch.zeros_like(r)
    acc = torch.zeros(B)
    for t in reversed(range(T)):
      acc = r[:, t] + 0.23 * acc
      ret[:, t] = acc
    baseline = 0.08 * baseline + 0.92 * ret.mean()
  g_loss = (-(ret - baseline) * gen.log_prob(fake, fmask)).sum(1).mean()
  g_opt.zero_grad()
  g_loss.backward()
  g_opt.step()
  return baseline


def main():
  p = argparse.ArgumentParser()
  p.add_argument('--threads', type=int, default=os.cpu_count())
  p.add_argument('--steps', type=int, default=10)
  a = p.parse_args()
  torch.set_num_threads(a.threads)
  torch.manual_seed(0)
  gen, disc = Generator(), Discriminator()
  g_opt = torch.optim.Adam(gen.parameters(), 1e-4, betas=(0.5, 0.999))
  d_opt = torch.optim.Adam(disc.parameters(), 1e-3, betas=(0.5, 0.999))
  lengths = torch.randint(22, T, (B,))
  real = torch.randint(1, V, (B, T))
  real_mask = torch.arange(T)[None] <= lengths[:, None]
  real = real * (torch.arange(T)[None] < lengths[:, None])
  baseline = torch.zeros(())
  baseline = step(gen, disc, g_opt, d_opt, real, real_mask, baseline)  # warm-up
  t = time.perf_counter()
  for _ in range(a.steps):
    baseline = step(gen, disc, g_opt, d_opt, real, real_mask, baseline)
  dt = (time.perf_counter() - t) / a.steps
  print(json.dumps({'benchmark': 'torch_step', 'preset': 'cpu-bench', 'batch_size': B,
                    'steps_per_s': 1 / dt, 'step_ms': dt * 1e3, 'threads': a.threads,
                    'torch': torch.__version__, 'cpus': os.cpu_count(),
                    'machine': platform.machine(), 'command': ' '.join(sys.argv),
                    **host.describe()}))


if __name__ == '__main__':
  main()
