#!/usr/bin/env python3
# The official PyTorch code (FoundationVision/VAR for VAR-d16, mobiushy/VIAR for the paper's VIAR, imported from a
# checkout given on the command line, never copied) on the weights bench/paper-size.ts exported as safetensors:
# one 256x256 image, time per image (transformer and decoder), peak memory, in float32 and in the official sampling
# precision (float16 autocast + TF32), plus a greedy sample compared token by token with ours (--compare).
#
#   npx tsx bench/paper-size.ts --model var --export-only --export out/paper
#   python3 bench/paper-size-torch.py --model var --repo out/official/VAR --weights-dir out/paper --greedy \
#       --compare bench/results/paper-size-var-gpu.json --out bench/results/paper-size-var-torch.json
#   (--save-pth writes <model>-bf16.pth, <model>-f16.pth and vae.pth there, for the .pth loading measurements)

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
PATCH_NUMS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
RECOMPUTED = ('lvl_1L', 'attn_bias_for_masking')


def read_safetensors(path):
    """bench/gpu-torch.py's reader (safetensors without the safetensors package)."""
    spec = importlib.util.spec_from_file_location('gpu_torch', os.path.join(HERE, 'gpu-torch.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.read_safetensors(path)


def load_official(repo):
    hub = types.ModuleType('huggingface_hub')
    hub.PyTorchModelHubMixin = type('PyTorchModelHubMixin', (), {})
    sys.modules.setdefault('huggingface_hub', hub)
    sys.path.insert(0, os.path.abspath(repo))
    import models
    import models.var  # noqa: F401
    return models


class MemoryProbe:
    """Peak used device memory as nvidia-smi reports it (every 50 ms), next to torch's own peak."""

    def __init__(self, device):
        self.proc = None
        if device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(device)
            try:
                self.proc = subprocess.Popen(['nvidia-smi', '--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '50'],
                                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            except OSError:
                self.proc = None
        self.device = device

    def stop(self):
        out = {}
        if self.device.type == 'cuda':
            out['torchMaxAllocatedMiB'] = round(torch.cuda.max_memory_allocated(self.device) / 2**20, 1)
            out['torchMaxReservedMiB'] = round(torch.cuda.max_memory_reserved(self.device) / 2**20, 1)
        if self.proc is not None:
            time.sleep(0.2)
            self.proc.terminate()
            values = [int(v) for v in self.proc.communicate()[0].split() if v.strip().isdigit()]
            out['nvidiaSmiPeakMiB'] = max(values) if values else None
        return out


def sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--model', choices=['var', 'viar'], default='var')
    p.add_argument('--repo', required=True, help='checkout of FoundationVision/VAR (--model var) or mobiushy/VIAR (either)')
    p.add_argument('--weights-dir', required=True, help='holds <model>.safetensors and vae.safetensors from bench/paper-size.ts --export')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--label', type=int, default=207)
    p.add_argument('--cfg', type=float, default=1.5)
    p.add_argument('--top-k', type=int, default=900)
    p.add_argument('--top-p', type=float, default=0.96)
    p.add_argument('--schedule', type=int, default=10)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--precision', choices=['fp32', 'official', 'both'], default='both')
    p.add_argument('--greedy', action='store_true', help='also a greedy sample (float32), its indices recorded')
    p.add_argument('--compare', help='our result JSON (with --greedy indices) to compare the greedy tokens with')
    p.add_argument('--save-pth', action='store_true', help='write <model>-bf16.pth, <model>-f16.pth and vae.pth to --weights-dir')
    p.add_argument('--no-sample', action='store_true')
    p.add_argument('--threads', type=int, default=os.cpu_count())
    p.add_argument('--out', default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    M = load_official(a.repo)
    import dist  # the repository's dist.py: its device decides where the sampler's generator lives
    setattr(dist, '__device', device)

    t0 = time.perf_counter()
    kw = dict(device=device, patch_nums=PATCH_NUMS, V=4096, Cvae=32, ch=160, share_quant_resi=4, num_classes=1000,
              depth=16 if a.model == 'var' else 30, shared_aln=False, attn_l2_norm=True, flash_if_available=True, fused_if_available=True)
    if a.model == 'viar':
        kw.update(use_implicit=True, pre_depth=5, post_depth=5)
    vae, model = M.build_vae_var(**kw)
    weights, meta = read_safetensors(os.path.join(a.weights_dir, f'{a.model}.safetensors'))
    vae_weights, _ = read_safetensors(os.path.join(a.weights_dir, 'vae.safetensors'))
    r = torch.nn.Module.load_state_dict(model, weights, strict=False)
    bad = [k for k in r.missing_keys if k not in RECOMPUTED and not k.endswith('.zero_k_bias')]
    assert not bad and not r.unexpected_keys, (bad, r.unexpected_keys)
    r = torch.nn.Module.load_state_dict(vae, vae_weights, strict=False)
    assert set(r.missing_keys) <= {'quantize.ema_vocab_hit_SV'} and not r.unexpected_keys, r
    model.eval(), vae.eval()
    for q in list(model.parameters()) + list(vae.parameters()):
        q.requires_grad_(False)
    load_s = time.perf_counter() - t0
    params = sum(q.numel() for q in model.parameters())
    print(f'official {a.model}: {params:,} parameters, VQVAE {sum(q.numel() for q in vae.parameters()):,}; built and loaded in {load_s:.1f} s on {device}')

    if a.save_pth:
        sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        for name, dtype in (('bf16', torch.bfloat16), ('f16', torch.float16)):
            torch.save({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in sd.items()}, os.path.join(a.weights_dir, f'{a.model}-{name}.pth'))
        torch.save({k: v.detach().cpu() for k, v in vae.state_dict().items()}, os.path.join(a.weights_dir, 'vae.pth'))
        print(f'wrote {a.model}-bf16.pth, {a.model}-f16.pth and vae.pth to {a.weights_dir}')
    if a.no_sample:
        return

    label = torch.tensor([a.label], device=device)
    schedule = dict(iter_left=a.schedule, iter_right=a.schedule) if a.model == 'viar' else {}

    def sample(official_precision, top_k, top_p, capture=None):
        torch.backends.cuda.matmul.allow_tf32 = official_precision
        torch.backends.cudnn.allow_tf32 = official_precision
        fhat = {}
        original = vae.fhat_to_img
        vae.fhat_to_img = lambda f: (fhat.__setitem__('f', f.clone()), original(f))[1]
        try:
            autocast = torch.autocast('cuda', dtype=torch.float16) if official_precision and device.type == 'cuda' else contextlib.nullcontext()
            with torch.inference_mode(), autocast:
                sync(device)
                c0 = time.process_time()
                s0 = time.perf_counter()
                img = model.autoregressive_infer_cfg(B=1, label_B=label, g_seed=a.seed, cfg=a.cfg, top_k=top_k, top_p=top_p, more_smooth=False, **schedule)
                img.cpu()
                total = time.perf_counter() - s0
                cpu = time.process_time() - c0
                d0 = time.perf_counter()
                vae.fhat_to_img(fhat['f']).cpu()
                decode = time.perf_counter() - d0
        finally:
            vae.fhat_to_img = original
        return {'totalMs': total * 1000, 'processCpuTimeMs': cpu * 1000, 'decoderAloneMs': decode * 1000, 'transformerAndRestMs': (total - decode) * 1000}

    result = {
        'command': 'python3 bench/paper-size-torch.py ' + ' '.join(sys.argv[1:]), 'date': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'machine': {'cpu': platform.processor() or platform.machine(), 'loadAverage1m': os.getloadavg()[0], 'gpu': torch.cuda.get_device_name(device) if device.type == 'cuda' else None,
                    'torch': torch.__version__, 'python': platform.python_version(), 'threads': torch.get_num_threads()},
        'model': {'kind': a.model, 'parameters': params, 'weightsFrom': meta.get('seed') and f'{a.model}.safetensors (seed {meta["seed"]})'},
        'buildAndLoadS': load_s, 'sampling': {'label': a.label, 'cfg': a.cfg, 'topK': a.top_k, 'topP': a.top_p, 'images': 1, **schedule},
    }
    modes = {'fp32': [False], 'official': [True], 'both': [False, True]}[a.precision]
    for official in modes:
        key = 'official_fp16_autocast_tf32' if official else 'fp32'
        for _ in range(a.warmup):
            sample(official, a.top_k, a.top_p)
        probe = MemoryProbe(device)
        timing = sample(official, a.top_k, a.top_p)
        result[key] = {'timeMs': timing, 'memory': probe.stop()}
        print(f'{key}: {timing["totalMs"] / 1000:.3f} s per image (decoder alone {timing["decoderAloneMs"] / 1000:.3f} s); {result[key]["memory"]}')

    if a.greedy:
        picked = []
        original = M.var.sample_with_top_k_top_p_

        def wrapped(logits_BlV, **kw):
            out = original(logits_BlV, **kw)
            picked.append(out[:, :, 0].reshape(-1).tolist())
            return out
        M.var.sample_with_top_k_top_p_ = wrapped
        try:
            sample(False, 1, 0.0)
        finally:
            M.var.sample_with_top_k_top_p_ = original
        result['greedy'] = {'indices': picked}
        if a.compare:
            with open(a.compare) as f:
                ours = json.load(f).get('greedy', {}).get('indices')
            if ours:
                same = [sum(int(x == y) for x, y in zip(o[0] if isinstance(o[0], list) else o, t)) for o, t in zip(ours, picked)]
                first = next((si for si, (o, t) in enumerate(zip(ours, picked)) if (o[0] if isinstance(o[0], list) else o) != t), None)
                result['greedy']['agreementWithOurs'] = {'perScale': same, 'tokens': [len(t) for t in picked], 'firstScaleThatDiffers': first}
                print(f'greedy tokens equal to ours per scale: {same} of {[len(t) for t in picked]}')
    out = a.out or os.path.join('bench', 'results', f'paper-size-{a.model}-torch.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(result, f, indent=2)
        f.write('\n')
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
