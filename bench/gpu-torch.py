#!/usr/bin/python3
# PyTorch companion of bench/gpu.ts: the shipped MNIST VIAR (checkpoints/viar-mnist.safetensors) and the parts of our
# VQ tokenizer that turn sampled indices into images (checkpoints/tokenizer-mnist.safetensors), re-implemented here
# from our architecture (src/viar/*.ts, docs/notes/var-spec.md) in plain eager PyTorch, float32, TF32 off.
# This file owns: a tiny safetensors reader, the VIAR transformer (AdaLN blocks, implicit layer, KV-cached next-scale
# sampler with the iteration-keyed implicit cache, CFG ramp, top-k/top-p), the quantizer's f-hat accumulation (Phi
# convs) and the VQVAE decoder, the two measurements bench/gpu.ts compares against (sampling ms/image, training
# ms/step of a fresh VIAR_SMALL), and a parity self-check against our engine's numbers written by
# bench/gpu-torch-reference.ts (bench/results/gpu-torch-reference.safetensors).
# Works on PyTorch 1.13 (Debian's python3-torch) and on recent PyTorch with CUDA.
# Run: /usr/bin/python3 bench/gpu-torch.py [--device cuda|cpu] [--batch 100] [--schedule 4] [--train-batch 16]
#      [--steps 20] [--out bench/results/gpu-torch.json] [--reference PATH] [--attention auto|manual|sdpa]

import argparse
import datetime
import json
import math
import os
import platform
import random
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAX_LOG_TEMPERATURE = math.log(100.0)
SAMPLE = {'cfg': 1.5, 'topK': 60, 'topP': 0.96}
# whether attention runs through F.scaled_dot_product_attention (set in main from --attention)
USE_SDPA = False


# ---------------------------------------------------------------------------------------------------------------
# safetensors

SAFETENSORS_DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool,
}


def read_safetensors(path):
    """Reads a safetensors file: an 8-byte little-endian header length, a JSON header, then raw little-endian
    buffers. Returns ({name: CPU tensor}, {metadata key: string})."""
    if sys.byteorder != 'little':
        raise RuntimeError('read_safetensors assumes a little-endian host')
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', None) or {}
    base = 8 + n
    tensors = {}
    for name, entry in header.items():
        dtype = SAFETENSORS_DTYPES[entry['dtype']]
        start, end = entry['data_offsets']
        shape = entry['shape']
        if end == start:
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        buf = bytearray(data[base + start:base + end])  # writable copy: frombuffer would warn on bytes
        tensors[name] = torch.frombuffer(buf, dtype=dtype).reshape(shape).clone()
    return tensors, metadata


# ---------------------------------------------------------------------------------------------------------------
# VIAR transformer (src/viar/var-blocks.ts, var-model.ts, viar-model.ts)

class KVCache:
    """Keys (after the l2 normalisation) and values of earlier calls, [B, H, Lpast, d] each; append concatenates."""

    def __init__(self):
        self.k = None
        self.v = None

    def append(self, k, v):
        """Appends this call's keys/values and returns all of them."""
        self.k = k if self.k is None else torch.cat([self.k, k], 2)
        self.v = v if self.v is None else torch.cat([self.v, v], 2)
        return self.k, self.v


def attention(q, k, v, mask):
    """softmax(q·kᵀ + mask)·v with softmax scale 1 (the temperature is already in q); mask additive or None."""
    if USE_SDPA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores + mask
    return scores.softmax(-1) @ v


class SelfAttention(nn.Module):
    """VAR's attention: qkv = x·mat_qkvᵀ + [q_bias, 0, v_bias]; q ← normalize(q)·exp(min(scale_mul, ln 100)),
    k ← normalize(k); softmax scale 1; proj. x [B, L, C] → [B, L, C]."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.mat_qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.scale_mul_1H11 = nn.Parameter(torch.full((1, heads, 1, 1), math.log(4.0)))
        self.register_buffer('zero_k_bias', torch.zeros(dim), persistent=False)

    def forward(self, x, mask=None, cache=None):
        """mask: additive [L, L] (teacher forcing) or None (cached sampling: keys = cache ∪ this scale)."""
        b, l, c = x.shape
        bias = torch.cat([self.q_bias, self.zero_k_bias, self.v_bias])
        qkv = F.linear(x, self.mat_qkv.weight, bias).view(b, l, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = F.normalize(q, dim=-1) * self.scale_mul_1H11.clamp(max=MAX_LOG_TEMPERATURE).exp()
        k = F.normalize(k, dim=-1)
        if cache is not None:
            k, v = cache.append(k, v)
        out = attention(q, k, v, mask)
        return self.proj(out.transpose(1, 2).reshape(b, l, c))


class FeedForward(nn.Module):
    """fc2(GELU_tanh(fc1(x)))."""

    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate='tanh'))


class AdaLNSelfAttn(nn.Module):
    """Pre-norm AdaLN block: (γ₁, γ₂, s₁, s₂, b₁, b₂) = ada_lin(cond);
    x ← x + γ₁·Attn(LN(x)(1+s₁)+b₁); x ← x + γ₂·FFN(LN(x)(1+s₂)+b₂); LN without affine, eps normEps."""

    def __init__(self, dim, heads, mlp_ratio, eps):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.attn = SelfAttention(dim, heads)
        self.ffn = FeedForward(dim, round(dim * mlp_ratio))
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))

    def modulation(self, cond):
        """cond [B, C] → [B, 1, 6, C] in the order γ₁, γ₂, s₁, s₂, b₁, b₂."""
        return self.ada_lin(cond).view(-1, 1, 6, self.dim)

    def forward(self, x, mods, mask=None, cache=None):
        """x [B, L, C], mods = modulation(cond) → [B, L, C]."""
        g1, g2, s1, s2, b1, b2 = mods.unbind(2)
        ln = lambda t: F.layer_norm(t, (self.dim,), eps=self.eps)  # noqa: E731
        h = x + self.attn(ln(x) * (1 + s1) + b1, mask, cache) * g1
        return h + self.ffn(ln(h) * (1 + s2) + b2) * g2


class AdaLNBeforeHead(nn.Module):
    """(scale, shift) = ada_lin(cond); LN(x)·(1 + scale) + shift."""

    def __init__(self, dim, eps):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, cond):
        scale, shift = self.ada_lin(cond).view(-1, 1, 2, self.dim).unbind(2)
        return F.layer_norm(x, (self.dim,), eps=self.eps) * (1 + scale) + shift


def iteration_schedule(schedule, num_scales):
    """Implicit iterations per scale: an int (same at every scale), a list (one per scale), or {left, right}
    (the official floor-linspace over max(10, SN) points, the first SN used)."""
    if isinstance(schedule, int):
        return [schedule] * num_scales
    if isinstance(schedule, dict):
        left, right = schedule['left'], schedule['right']
        points = max(10, num_scales)
        step = (right - left) / (points - 1)
        line = [right if i == points - 1 else i * step + left for i in range(points)]
        return [math.floor(v) for v in line[:num_scales]]
    if len(schedule) != num_scales:
        raise ValueError(f'schedule has {len(schedule)} entries, the model has {num_scales} scales')
    return list(schedule)


def filter_logits(logits, top_k, top_p):
    """Top-k then top-p filtering (filtered entries → −inf), on the logits' device: keep every logit ≥ the k-th
    largest; sort ascending (stable), drop the entries whose cumulative softmax mass is ≤ 1 − p, never the largest."""
    v = logits.shape[-1]
    if 0 < top_k < v:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float('-inf'))
    if top_p > 0:
        ascending, order = torch.sort(logits, dim=-1, stable=True)
        drop_sorted = ascending.softmax(-1).cumsum(-1) <= 1 - top_p
        drop_sorted[..., -1] = False
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float('-inf'))
    return logits


class VIAR(nn.Module):
    """VIAR: embeddings → pre_blocks → implicit layer z ← implicit_block(P(concat(z, x)), cond) from z₀ = x →
    post_blocks → head_nm → head. State-dict keys as our checkpoints (the official VAR/VIAR names)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c, pns = cfg['embedDim'], cfg['patchNums']
        self.C, self.V, self.num_classes = c, cfg['vocabSize'], cfg['numClasses']
        self.patch_nums = list(pns)
        self.scale_starts = [0]
        for p in pns:
            self.scale_starts.append(self.scale_starts[-1] + p * p)
        self.L, self.first_len = self.scale_starts[-1], pns[0] ** 2
        self.class_emb = nn.Embedding(cfg['numClasses'] + 1, c)
        self.pos_start = nn.Parameter(torch.zeros(1, self.first_len, c))
        self.pos_1LC = nn.Parameter(torch.zeros(1, self.L, c))
        self.lvl_embed = nn.Embedding(len(pns), c)
        self.word_embed = nn.Linear(cfg['vaeChannels'], c)
        block = lambda: AdaLNSelfAttn(c, cfg['numHeads'], cfg['mlpRatio'], cfg['normEps'])  # noqa: E731
        self.pre_blocks = nn.ModuleList([block() for _ in range(cfg['nPre'])])
        self.implicit_block = block()
        self.implicit_block_projection = nn.Sequential(nn.Linear(2 * c, 2 * c), nn.GELU(approximate='tanh'), nn.Linear(2 * c, c))
        self.post_blocks = nn.ModuleList([block() for _ in range(cfg['nPost'])])
        self.head_nm = AdaLNBeforeHead(c, cfg['normEps'])
        self.head = nn.Linear(c, cfg['vocabSize'])
        lvl = torch.tensor([si for si, p in enumerate(pns) for _ in range(p * p)])
        self.register_buffer('lvl_1L', lvl, persistent=False)
        mask = torch.where(lvl[None, :] <= lvl[:, None], 0.0, float('-inf'))  # 0 where scale(key) ≤ scale(query)
        self.register_buffer('attn_bias', mask.to(torch.float32), persistent=False)

    def init_weights(self):
        """The official init_weights with our config's init: trunc_normal(std) on Linear/Embedding weights and the
        position tables, zero biases; head ×init.head; head_nm ada_lin ×init.adaln; per block proj and fc2 ÷√(2·depth),
        ada_lin rows [0, 2C) ×init.adalnGamma and [2C, 6C) ×init.adaln, zero ada_lin bias."""
        init, c = self.cfg['init'], self.C
        std = math.sqrt(1 / (3 * c)) if init['std'] < 0 else init['std']
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.trunc_normal_(m.weight, std=std)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    m.bias.zero_()
            nn.init.trunc_normal_(self.pos_start, std=std)
            nn.init.trunc_normal_(self.pos_1LC, std=std)
            self.head.weight.mul_(init['head'])
            self.head_nm.ada_lin[1].weight.mul_(init['adaln'])
            divisor = math.sqrt(2 * self.cfg['depth'])
            for blk in [*self.pre_blocks, self.implicit_block, *self.post_blocks]:
                blk.attn.proj.weight.div_(divisor)
                blk.ffn.fc2.weight.div_(divisor)
                blk.ada_lin[1].weight[:2 * c].mul_(init['adalnGamma'])
                blk.ada_lin[1].weight[2 * c:].mul_(init['adaln'])
                blk.ada_lin[1].bias.zero_()

    def level_positions(self):
        """lvl_embed[lvl_1L] + pos_1LC: [1, L, C]."""
        return self.lvl_embed(self.lvl_1L)[None] + self.pos_1LC

    def implicit_step(self, z, injection, mods, mask=None, cache=None):
        """implicit_block(P(concat(z, x)), cond) with P = implicit_block_projection."""
        return self.implicit_block(self.implicit_block_projection(torch.cat([z, injection], -1)), mods, mask, cache)

    def forward(self, labels, x, k, m, generator=None):
        """Teacher-forced logits: labels int64 [B], x [B, L − p₀², Cvae] → [B, L, V]. The implicit layer runs k
        iterations without a tape from z₀ = x, detaches, then m with it (gradients reach the pre-blocks only through
        the injection). In training mode labels are dropped to the null class with probability condDropRate."""
        b = x.shape[0]
        if self.training and self.cfg['condDropRate'] > 0:
            drop = torch.rand(b, device=x.device, generator=generator) < self.cfg['condDropRate']
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        cond = self.class_emb(labels)
        sos = cond[:, None] + self.pos_start
        h = torch.cat([sos, self.word_embed(x)], 1) + self.level_positions()
        mask = self.attn_bias
        for blk in self.pre_blocks:
            h = blk(h, blk.modulation(cond), mask)
        if k + m > 0:
            mods = self.implicit_block.modulation(cond)
            with torch.no_grad():
                z = h.detach()
                for _ in range(k):
                    z = self.implicit_step(z, h.detach(), mods.detach(), mask)
            z = z.detach()
            for _ in range(m):
                z = self.implicit_step(z, h, mods, mask)
            h = z
        for blk in self.post_blocks:
            h = blk(h, blk.modulation(cond), mask)
        return self.head(self.head_nm(h, cond))

    @torch.no_grad()
    def sample(self, tok, labels, seed=0, schedule=4, cfg=1.5, top_k=0, top_p=0.0, forced=None, record_logits=False):
        """KV-cached next-scale sampling (our VIAR.sample / the official autoregressive_infer_cfg): 2B rows (B
        conditional, B null class), per scale the pre-blocks (normal caches), n_s implicit iterations where iteration t
        attends to the iterate-t keys/values of earlier scales plus its own (cache keyed by t), the post-blocks and head;
        logits mixed with t = cfg·si/(SN − 1), tokens drawn from softmax(filter_logits) with a torch.Generator seeded by
        `seed` (or taken from `forced`), f̂ += Phi(upsampled code map), the area-downsampled f̂ embedded as the next
        scale's tokens. Returns {indices, image (clamp(decode(f̂), −1, 1)+1)/2, fhat, logits (when record_logits)}."""
        dev = self.pos_1LC.device
        labels = torch.as_tensor(labels, dtype=torch.long, device=dev)
        b, c, sn = labels.shape[0], self.C, len(self.patch_nums)
        iters = iteration_schedule(schedule, sn)
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        cond = self.class_emb(torch.cat([labels, torch.full_like(labels, self.num_classes)]))
        lvl_pos = self.level_positions()
        tokens = cond[:, None] + self.pos_start + lvl_pos[:, :self.first_len]
        pre_mods = [blk.modulation(cond) for blk in self.pre_blocks]
        post_mods = [blk.modulation(cond) for blk in self.post_blocks]
        imp_mods = self.implicit_block.modulation(cond)
        pre_caches = [KVCache() for _ in self.pre_blocks]
        post_caches = [KVCache() for _ in self.post_blocks]
        imp_caches = {}
        p_last = self.patch_nums[-1]
        fhat = torch.zeros(b, tok.channels, p_last, p_last, device=dev)
        indices, logits_all = [], []
        for si, pn in enumerate(self.patch_nums):
            x = tokens
            for blk, mods, cache in zip(self.pre_blocks, pre_mods, pre_caches):
                x = blk(x, mods, cache=cache)
            z = x
            for t in range(iters[si]):
                z = self.implicit_step(z, x, imp_mods, cache=imp_caches.setdefault(t, KVCache()))
            for blk, mods, cache in zip(self.post_blocks, post_mods, post_caches):
                z = blk(z, mods, cache=cache)
            logits = self.head(self.head_nm(z, cond))
            strength = cfg * si / (sn - 1) if sn > 1 else 0.0
            mixed = (1 + strength) * logits[:b] - strength * logits[b:]
            if record_logits:
                logits_all.append(mixed)
            if forced is not None:
                idx = forced[si].to(dev).long()
            else:
                probs = filter_logits(mixed, top_k, top_p).softmax(-1)
                idx = torch.multinomial(probs.view(-1, self.V), 1, generator=gen).view(b, pn * pn)
            indices.append(idx)
            fhat, nxt = tok.next_input(si, fhat, tok.embed(idx, pn))
            if si < sn - 1:
                start, end = self.scale_starts[si + 1], self.scale_starts[si + 2]
                emb = self.word_embed(nxt.flatten(2).transpose(1, 2)) + lvl_pos[:, start:end]
                tokens = torch.cat([emb, emb], 0)
        image = (tok.fhat_to_image(fhat) + 1) * 0.5
        return {'indices': indices, 'image': image, 'fhat': fhat, 'logits': logits_all if record_logits else None}


# ---------------------------------------------------------------------------------------------------------------
# VQ tokenizer: quantizer f̂ accumulation and the decoder (src/viar/quantizer.ts, vqvae.ts, vqvae-blocks.ts)

def phi_index_table(num_scales, shared):
    """Phi number of every scale: argmin_k |tick_k − si/(SN−1)| (first minimum), ticks = linspace(1/(3K), 1−1/(3K), K)
    when K = 4 else linspace(1/(2K), 1−1/(2K), K), numpy's float64 linspace; K = 0 → one per scale, K = 1 → shared."""
    k = num_scales if shared == 0 else shared
    if k == 1:
        return [0] * num_scales
    start, stop = (1 / (3 * k), 1 - 1 / (3 * k)) if k == 4 else (1 / (2 * k), 1 - 1 / (2 * k))
    step = (stop - start) / (k - 1)
    ticks = [stop if i == k - 1 else i * step + start for i in range(k)]
    table = []
    for si in range(num_scales):
        at = si / (num_scales - 1) if num_scales > 1 else 0
        best = 0
        for i in range(1, k):
            if abs(ticks[i] - at) < abs(ticks[best] - at):
                best = i
        table.append(best)
    return table


class Phi(nn.Conv2d):
    """Phi(h) = (1 − r)·h + r·conv3×3(h)."""

    def __init__(self, channels, ratio):
        super().__init__(channels, channels, 3, padding=1)
        self.ratio = ratio

    def forward(self, h):
        return h * (1 - self.ratio) + super().forward(h) * self.ratio


class PhiPartiallyShared(nn.Module):
    """Holds the shared Phis (key quant_resi.qresi_ls.{i})."""

    def __init__(self, channels, ratio, count):
        super().__init__()
        self.qresi_ls = nn.ModuleList([Phi(channels, ratio) for _ in range(count)])


class Quantizer(nn.Module):
    """The multi-scale quantizer's decoding side: codebook lookup, bicubic upsampling, Phi refinement, f̂ sums."""

    def __init__(self, cfg):
        super().__init__()
        self.patch_nums = list(cfg['patchNums'])
        self.channels = cfg['zChannels']
        self.embedding = nn.Embedding(cfg['vocabSize'], cfg['zChannels'])
        count = len(self.patch_nums) if cfg['shareQuantResi'] == 0 else cfg['shareQuantResi']
        self.quant_resi = PhiPartiallyShared(cfg['zChannels'], abs(cfg['quantResi']), count)
        self.phi_table = phi_index_table(len(self.patch_nums), cfg['shareQuantResi'])

    def embed(self, idx, pn):
        """Code maps idx [B, pn²] → [B, Cvae, pn, pn]."""
        return self.embedding(idx).view(idx.shape[0], pn, pn, self.channels).permute(0, 3, 1, 2)

    def contribution(self, si, h):
        """Phi_si(bicubic-upsampled h), no upsampling at the last scale."""
        p_last = self.patch_nums[-1]
        if si < len(self.patch_nums) - 1:
            h = F.interpolate(h, size=(p_last, p_last), mode='bicubic', align_corners=False)
        return self.quant_resi.qresi_ls[self.phi_table[si]](h)

    def next_input(self, si, fhat, h):
        """Adds scale si's code map h to f̂; returns (f̂, next scale's input = area-downsampled f̂, or f̂ at the end)."""
        fhat = fhat + self.contribution(si, h)
        if si == len(self.patch_nums) - 1:
            return fhat, fhat
        pn = self.patch_nums[si + 1]
        return fhat, F.interpolate(fhat, size=(pn, pn), mode='area')

    def indices_to_fhat(self, indices):
        """Per-scale indices → f̂ [B, Cvae, p, p]."""
        p_last = self.patch_nums[-1]
        fhat = torch.zeros(indices[0].shape[0], self.channels, p_last, p_last, device=self.embedding.weight.device)
        for si, pn in enumerate(self.patch_nums):
            fhat = fhat + self.contribution(si, self.embed(indices[si], pn))
        return fhat

    def indices_to_var_input(self, indices):
        """Teacher-forcing input: for k ≥ 1, f̂ after scales 0..k−1 area-downsampled to p_k; [B, L − p₀², Cvae]."""
        p_last, b = self.patch_nums[-1], indices[0].shape[0]
        fhat = torch.zeros(b, self.channels, p_last, p_last, device=self.embedding.weight.device)
        nxt = []
        for si in range(len(self.patch_nums) - 1):
            fhat = fhat + self.contribution(si, self.embed(indices[si], self.patch_nums[si]))
            pn = self.patch_nums[si + 1]
            nxt.append(F.interpolate(fhat, size=(pn, pn), mode='area').view(b, self.channels, -1).transpose(1, 2))
        return torch.cat(nxt, 1)


def group_norm(channels, groups):
    """GroupNorm(groups, channels, eps 1e-6)."""
    return nn.GroupNorm(groups, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    """shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))), shortcut a 1×1 conv when channels change."""

    def __init__(self, cin, cout, groups):
        super().__init__()
        self.norm1, self.conv1 = group_norm(cin, groups), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = group_norm(cout, groups), nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AttnBlock(nn.Module):
    """Single-head spatial attention: x + proj_out(v·softmax(qᵀk/√C)ᵀ), q/k/v from one 1×1 conv."""

    def __init__(self, channels, groups):
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, 3 * c, h * w).chunk(3, 1)
        attn = ((q.transpose(1, 2) @ k) * c ** -0.5).softmax(2)  # [B, HW query, HW key]
        return x + self.proj_out((v @ attn.transpose(1, 2)).view(b, c, h, w))


class Upsample(nn.Module):
    """Nearest ×2, then a 3×3 conv."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, size=(x.shape[2] * 2, x.shape[3] * 2), mode='nearest'))


class Level(nn.Module):
    """One decoder resolution: ResnetBlocks (each followed by attention where present), optional upsampling."""

    def __init__(self):
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()
        self.upsample = None

    def forward(self, h):
        for i, blk in enumerate(self.block):
            h = blk(h)
            if i < len(self.attn):
                h = self.attn[i](h)
        return self.upsample(h) if self.upsample is not None else h


class Mid(nn.Module):
    """ResnetBlock → attention → ResnetBlock."""

    def __init__(self, channels, using_attn, groups):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, groups)
        self.attn_1 = AttnBlock(channels, groups) if using_attn else None
        self.block_2 = ResnetBlock(channels, channels, groups)

    def forward(self, h):
        h = self.block_1(h)
        if self.attn_1 is not None:
            h = self.attn_1(h)
        return self.block_2(h)


class Decoder(nn.Module):
    """Latent [B, zChannels, p, p] → image [B, inChannels, p·2^(levels−1), …] (not clamped); up[level], last first."""

    def __init__(self, cfg):
        super().__init__()
        ch, mult, g = cfg['ch'], cfg['chMult'], cfg.get('normGroups', 32)
        block_in = ch * mult[-1]
        self.conv_in = nn.Conv2d(cfg['zChannels'], block_in, 3, padding=1)
        self.mid = Mid(block_in, cfg['usingMidSa'], g)
        levels = [None] * len(mult)
        for level in reversed(range(len(mult))):
            lvl = Level()
            block_out = ch * mult[level]
            for _ in range(cfg['numResBlocks'] + 1):
                lvl.block.append(ResnetBlock(block_in, block_out, g))
                block_in = block_out
                if level == len(mult) - 1 and cfg['usingSa']:
                    lvl.attn.append(AttnBlock(block_in, g))
            if level != 0:
                lvl.upsample = Upsample(block_in)
            levels[level] = lvl
        self.up = nn.ModuleList(levels)
        self.norm_out = group_norm(block_in, g)
        self.conv_out = nn.Conv2d(block_in, cfg['inChannels'], 3, padding=1)

    def forward(self, z):
        h = self.mid(self.conv_in(z))
        for level in reversed(range(len(self.up))):
            h = self.up[level](h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Tokenizer(nn.Module):
    """The decoding half of our VQVAE: quantize (codebook + Phis), post_quant_conv, decoder (keys as the checkpoint)."""

    def __init__(self, cfg):
        super().__init__()
        self.channels = cfg['zChannels']
        self.quantize = Quantizer(cfg)
        k = cfg['quantConvKernel']
        self.post_quant_conv = nn.Conv2d(cfg['zChannels'], cfg['zChannels'], k, padding=k // 2)
        self.decoder = Decoder(cfg)

    def embed(self, idx, pn):
        return self.quantize.embed(idx, pn)

    def next_input(self, si, fhat, h):
        return self.quantize.next_input(si, fhat, h)

    def fhat_to_image(self, fhat):
        """clamp(decoder(post_quant_conv(f̂)), −1, 1)."""
        return self.decoder(self.post_quant_conv(fhat)).clamp(-1, 1)

    def indices_to_image(self, indices):
        """Per-scale indices → image in [−1, 1]."""
        return self.fhat_to_image(self.quantize.indices_to_fhat(indices))


# ---------------------------------------------------------------------------------------------------------------
# loading, measurements, parity

def load_models(device):
    """The shipped VIAR and tokenizer from their safetensors (configs from the files' metadata), eval mode."""
    vt, vmeta = read_safetensors(os.path.join(ROOT, 'checkpoints/viar-mnist.safetensors'))
    if vmeta.get('model') != 'viar':
        raise RuntimeError('checkpoints/viar-mnist.safetensors does not hold a VIAR')
    model = VIAR(json.loads(vmeta['config']))
    model.load_state_dict(vt, strict=True)
    tt, tmeta = read_safetensors(os.path.join(ROOT, 'checkpoints/tokenizer-mnist.safetensors'))
    tok = Tokenizer(json.loads(tmeta['config']))
    wanted = {k: v for k, v in tt.items() if k.startswith(('quantize.embedding', 'quantize.quant_resi', 'post_quant_conv', 'decoder.'))}
    tok.load_state_dict(wanted, strict=True)
    return model.to(device).eval(), tok.to(device).eval()


def sync(device):
    """Waits for queued CUDA work."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure_sampling(model, tok, device, n, schedule, repeats=1):
    """Samples n images (classes cycling 0..9) once as warm-up, then `repeats` times; ms per image of the median
    repetition, the image copied to the host included."""
    labels = [i % 10 for i in range(n)]

    def once(seed):
        out = model.sample(tok, labels, seed=seed, schedule=schedule, cfg=SAMPLE['cfg'], top_k=SAMPLE['topK'], top_p=SAMPLE['topP'])
        return out['image'].cpu()

    once(0)
    sync(device)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        image = once(1 + r)
        sync(device)
        times.append((time.perf_counter() - t0) * 1e3)
    ms = sorted(times)[len(times) // 2]
    return {'images': n, 'msPerImage': ms / n, 'imagesPerSecond': 1e3 * n / ms, 'schedule': schedule, **SAMPLE,
            'repeats': repeats, 'msPerImageEachRepeat': [t / n for t in times], 'imageMean': float(image.mean())}


def measure_training(cfg, device, batch, steps, seed=0, warmup=3):
    """A fresh VIAR (the checkpoint's config = VIAR_SMALL) with the official init, AdamW(lr 1e-4, betas (0.9, 0.95),
    weight decay 0.05), synthetic teacher-forcing batches (x ~ N(0, 1) [B, L − 1, Cvae], uniform targets, labels
    cycling), label dropout on, k ∈ noGradIters and m ∈ withGradIters drawn per step; 3 warm-up steps, then
    `steps` timed (one synchronize at the end). Returns ms/step, the last loss and the mean k and m of the timed steps."""
    torch.manual_seed(seed)
    model = VIAR(cfg)
    model.init_weights()
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    x = torch.randn(batch, model.L - model.first_len, cfg['vaeChannels'], device=device, generator=gen)
    targets = torch.randint(0, cfg['vocabSize'], (batch * model.L,), device=device, generator=gen)
    labels = torch.tensor([i % cfg['numClasses'] for i in range(batch)], device=device)
    (k0, k1), (m0, m1) = cfg['implicit']['noGradIters'], cfg['implicit']['withGradIters']
    draws = random.Random(seed)
    drawn = []

    def step():
        k, m = draws.randint(k0, k1), draws.randint(m0, m1)
        drawn.append((k, m))
        logits = model(labels, x, k, m, generator=gen)
        loss = F.cross_entropy(logits.reshape(-1, cfg['vocabSize']), targets)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    for _ in range(warmup):
        step()
    sync(device)
    drawn.clear()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync(device)
    ms = (time.perf_counter() - t0) * 1e3 / steps
    return {'batch': batch, 'steps': steps, 'msPerStep': ms, 'loss': float(loss.detach()),
            'meanNoGradIters': sum(k for k, _ in drawn) / len(drawn), 'meanWithGradIters': sum(m for _, m in drawn) / len(drawn),
            'parameters': sum(p.numel() for p in model.parameters())}


def diff(ours, ref):
    """{maxAbs, maxRef, rel = maxAbs / max|ref|} between two tensors of the same shape (compared in float64)."""
    a, r = ours.detach().double().cpu(), ref.double().cpu()
    if a.shape != r.shape:
        raise RuntimeError(f'shape mismatch: {tuple(a.shape)} vs reference {tuple(r.shape)}')
    max_abs = float((a - r).abs().max())
    max_ref = float(r.abs().max())
    return {'maxAbs': max_abs, 'maxRef': max_ref, 'rel': max_abs / max_ref if max_ref > 0 else max_abs}


def parity(model, tok, device, path, tol):
    """Compares with our engine's numbers (bench/gpu-torch-reference.ts): the quantizer's teacher-forcing input, the
    teacher-forced logits (4 implicit iterations), the decoded images, the KV-cached sampler's CFG-mixed logits and
    images under forced indices, the top-k/top-p keep sets, and a truncated-gradient backward pass (loss and every
    parameter's gradient norm). ok when every relative max |Δ| ≤ tol and the keep sets agree."""
    ref, meta = read_safetensors(path)
    dev = lambda t: t.to(device)  # noqa: E731
    sn = len(model.patch_nums)
    indices = [dev(ref[f'indices.{si}'].long()) for si in range(sn)]
    labels = dev(ref['labels'].long())
    out = {'reference': os.path.relpath(path, ROOT), 'tolerance': tol}
    with torch.no_grad():
        out['varInput'] = diff(tok.quantize.indices_to_var_input(indices), ref['x'])
        out['teacherForcedLogits'] = diff(model(labels, dev(ref['x']), 0, int(meta['tfIterations'])), ref['logits'])
        out['image'] = diff((tok.indices_to_image(indices) + 1) * 0.5, ref['image'])
        rows = ref['sampler.labels'].shape[0]
        schedule = json.loads(meta['samplerSchedule'])
        s = model.sample(tok, ref['sampler.labels'].tolist(), schedule=schedule, cfg=json.loads(meta['sample'])['cfg'],
                         forced=[i[:rows] for i in indices], record_logits=True)
        out['samplerLogits'] = diff(torch.cat(s['logits'], 1), ref['sampler.logits'])
        out['samplerImage'] = diff(s['image'], ref['sampler.image'])
        out['samplerSchedule'] = schedule
        opts = json.loads(meta['sample'])
        filtered = filter_logits(dev(ref['sampler.logits']), opts['topK'], opts['topP']).cpu()
        keep = torch.isfinite(filtered)
        kept = keep.sum(-1).int()
        kept_sum = (keep * torch.arange(filtered.shape[-1])).sum(-1).int()
        bad = (kept != ref['filter.kept']) | (kept_sum != ref['filter.keptIndexSum'])
        out['filter'] = {'rows': int(bad.numel()), 'mismatchedRows': int(bad.sum())}
    # backward: eval mode (no label dropout), k untaped then m taped, cross-entropy against the indices themselves
    split = json.loads(meta['gradSplit'])
    model.zero_grad(set_to_none=True)
    targets = torch.cat(indices, 1).reshape(-1)
    loss = F.cross_entropy(model(labels, dev(ref['x']), split['noGrad'], split['withGrad']).reshape(-1, model.V), targets)
    loss.backward()
    params = dict(model.named_parameters())
    names = json.loads(meta['gradNames'])
    norms = torch.stack([params[n].grad.double().norm() if params[n].grad is not None else torch.zeros((), dtype=torch.float64, device=device) for n in names])
    out['gradLoss'] = diff(loss.reshape(1), ref['grad.loss'])
    out['gradNorms'] = diff(norms, ref['grad.norms'])
    out['gradNormsWorstRel'] = max(abs(float(a) - float(r)) / float(r) for a, r in zip(norms.cpu(), ref['grad.norms']) if float(r) > 0)
    for key in ref:
        if key.startswith('grad.') and key not in ('grad.loss', 'grad.norms'):
            out[key] = diff(params[key[5:]].grad, ref[key])
    model.zero_grad(set_to_none=True)
    checks = [v['rel'] for v in out.values() if isinstance(v, dict) and 'rel' in v]
    out['maxRel'] = max(checks)
    out['ok'] = out['maxRel'] <= tol and out['filter']['mismatchedRows'] == 0
    return out


def pick_sdpa(choice, device):
    """Whether attention uses F.scaled_dot_product_attention: it must exist, take scale= (PyTorch >= 2.1) and run on
    this device with the teacher-forcing shapes (an additive [L, L] mask, L = 130, not a multiple of 8)."""
    if choice == 'manual' or not hasattr(F, 'scaled_dot_product_attention'):
        return False
    try:
        q = torch.randn(2, 2, 130, 64, device=device)
        mask = torch.full((130, 130), float('-inf'), device=device).triu(1)  # causal: −inf above the diagonal
        got = F.scaled_dot_product_attention(q, q, q, attn_mask=mask, scale=1.0)
        want = ((q @ q.transpose(-2, -1)) + mask).softmax(-1) @ q
        return bool((got - want).abs().max() < 1e-3)
    except (TypeError, RuntimeError):
        return False


def main():
    """Parses the arguments, runs parity, sampling and training, prints a summary and writes the JSON."""
    global USE_SDPA
    ap = argparse.ArgumentParser(description='PyTorch companion of bench/gpu.ts (same VIAR and weights).')
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--batch', type=int, default=100)
    ap.add_argument('--schedule', type=int, default=4)
    ap.add_argument('--train-batch', type=int, default=16)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3, help='training steps run before timing')
    ap.add_argument('--repeats', type=int, default=1, help='timed sampling calls per batch size (the median is reported)')
    ap.add_argument('--batches', default='', help='more sampling batch sizes, comma-separated (e.g. 1,16,100)')
    ap.add_argument('--train-batches', default='', help='more training batch sizes, comma-separated (e.g. 16,64)')
    ap.add_argument('--out', default='bench/results/gpu-torch.json')
    ap.add_argument('--reference', default=os.path.join(ROOT, 'bench/results/gpu-torch-reference.safetensors'))
    ap.add_argument('--tol', type=float, default=1e-4, help='parity: largest allowed max|Δ|/max|ref|')
    ap.add_argument('--attention', choices=['auto', 'manual', 'sdpa'], default='auto',
                    help='auto: F.scaled_dot_product_attention where it takes scale= (PyTorch ≥ 2.1), else the explicit softmax')
    args = ap.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    USE_SDPA = pick_sdpa(args.attention, device)
    if args.attention == 'sdpa' and not USE_SDPA:
        ap.error('F.scaled_dot_product_attention(scale=...) is unavailable or fails here (needs PyTorch >= 2.1)')
    device_name = torch.cuda.get_device_name(device) if device.type == 'cuda' else (platform.processor() or platform.machine())
    print(f'torch {torch.__version__} on {device_name} ({device}); float32, TF32 off; attention: {"sdpa" if USE_SDPA else "manual"}')

    model, tok = load_models(device)
    if os.path.exists(args.reference):
        par = parity(model, tok, device, args.reference, args.tol)
        print('parity (max |Δ| / max |ref|): ' + ', '.join(f'{k} {v["rel"]:.2e}' for k, v in par.items() if isinstance(v, dict) and 'rel' in v)
              + f'; filter keep sets: {par["filter"]["mismatchedRows"]} of {par["filter"]["rows"]} rows differ → {"OK" if par["ok"] else "FAIL"}')
    else:
        par = {'skipped': f'no reference at {args.reference}; make one with: npx tsx bench/gpu-torch-reference.ts'}
        print(f'parity skipped: {par["skipped"]}')

    sampling = measure_sampling(model, tok, device, args.batch, args.schedule, args.repeats)
    print(f'sampling: {sampling["msPerImage"]:.2f} ms/image ({args.batch} images, schedule {args.schedule})')
    training = measure_training(model.cfg, device, args.train_batch, args.steps, warmup=args.warmup)
    print(f'training step: {training["msPerStep"]:.1f} ms (batch {args.train_batch}, {args.steps} steps, loss {training["loss"]:.4f})')

    sampling_by_batch = {}
    for b in [int(v) for v in args.batches.split(',') if v]:
        sampling_by_batch[str(b)] = sampling if b == args.batch else measure_sampling(model, tok, device, b, args.schedule, args.repeats)
        print(f'sampling at batch {b}: {sampling_by_batch[str(b)]["msPerImage"]:.3f} ms/image')
    training_by_batch = {}
    for b in [int(v) for v in args.train_batches.split(',') if v]:
        training_by_batch[str(b)] = training if b == args.train_batch else measure_training(model.cfg, device, b, args.steps, warmup=args.warmup)
        print(f'training at batch {b}: {training_by_batch[str(b)]["msPerStep"]:.2f} ms/step')

    result = {
        'command': ' '.join([os.path.basename(sys.executable) if sys.executable else 'python3', *sys.argv]),
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'torch': torch.__version__,
        'python': platform.python_version(),
        'device': str(device),
        'deviceName': device_name,
        'cudaVersion': torch.version.cuda,
        'cpuThreads': torch.get_num_threads(),
        'precision': 'float32, eager; TF32 disabled (torch.backends.cuda.matmul.allow_tf32 = False, torch.backends.cudnn.allow_tf32 = False)',
        'attention': 'F.scaled_dot_product_attention(scale=1)' if USE_SDPA else 'explicit softmax(q·kᵀ + mask)·v',
        'sampling': sampling,
        'training': {**training, 'note': 'per step: forward with k ∈ noGradIters untaped then m ∈ withGradIters taped implicit iterations '
                     '(random.Random(0) draws), cross-entropy, backward, AdamW step; our engine additionally evaluates the implicit map '
                     'once more untaped per forward (fixedPoint residual of the returned iterate)'},
        'parity': par,
        'samplingByBatch': sampling_by_batch,
        'trainingByBatch': training_by_batch,
    }
    out = args.out if os.path.isabs(args.out) else os.path.join(os.getcwd(), args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(result, f, indent=2)
        f.write('\n')
    print(f'wrote {args.out}')
    if isinstance(par, dict) and par.get('ok') is False:
        sys.exit(1)


if __name__ == '__main__':
    main()
