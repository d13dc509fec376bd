#!/usr/bin/python3
# PyTorch companion of bench/peers.ts: the same workloads at 1 and 2 threads (one process each, OPENBLAS_NUM_THREADS
# matching torch's), written to bench/results/peers-torch.json, which peers.ts shows beside TF.js. Not part of CI.
# Run: /usr/bin/python3 bench/peers-torch.py [--samples N] [--only names] [--threads 1,2]

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time

WORKLOADS = ['matmul256', 'matmul512', 'matmul1024', 'attention', 'conv-fwd', 'conv-fwdbwd', 'block', 'viar-step', 'viar-sample']
HERE = os.path.dirname(os.path.abspath(__file__))

# shapes and FLOP conventions shared with bench/peers.ts
AB, AH, AL, AD = 8, 4, 130, 32
CN, CC, CO, CH = 16, 32, 64, 16
BB, BL, BD, BH, BF = 8, 130, 128, 4, 512
CONV_FLOPS = 2 * CN * CO * CC * 9 * CH * CH
BLOCK_FLOPS = 3 * (2 * BB * BL * (BD * 3 * BD + BD * BD + 2 * BD * BF) + 2 * (2 * BB * BH * BL * BL * (BD // BH)))


def selected(name, only):
    """A token selects the workload of that name, or every workload it prefixes when it names none."""
    return not only or any(name == o or (name.startswith(o) and o not in WORKLOADS) for o in only)


def measure(fn, samples, one_call, warmup):
    """Median ms of `samples` samples after warm-up; a sample repeats fn for >= 150 ms unless one_call."""
    for _ in range(warmup):
        fn()
    reps = 1
    if not one_call:
        t0 = time.perf_counter()
        fn()
        once = max((time.perf_counter() - t0) * 1e3, 1e-3)
        reps = max(1, math.ceil(150 / once))
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(samples):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t0) * 1e3 / reps)
    cores = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    times.sort()
    mid = len(times) // 2
    ms = times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2
    return ms, reps, cores, times


def child(threads, samples_override, only):
    """Runs every selected workload with torch at `threads` threads; prints one JSON line on stdout."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    results = []

    def record(name, flops, fn, samples, one_call=False, warmup=2, inference=True):
        samples = samples_override or samples
        if inference:
            with torch.inference_mode():
                ms, reps, cores, times = measure(fn, samples, one_call, warmup)
        else:
            ms, reps, cores, times = measure(fn, samples, one_call, warmup)
        results.append({'name': name, 'impl': f'torch-T{threads}', 'threads': threads, 'ms': ms, 'gflops': flops / ms / 1e6,
                        'cores': cores, 'samples': samples, 'reps': reps, 'samplesMs': [float(f'{t:.4g}') for t in times]})
        print(f'  torch-T{threads} {name}: {ms:.3f} ms', file=sys.stderr)

    # matmul first: besides the numbers, freeing its large buffers raises glibc's mmap threshold, which the
    # attention timing depends on (docs/notes/benchmarks.md, allocator effects)
    for n in (256, 512, 1024):
        if selected(f'matmul{n}', only):
            a, b = torch.randn(n, n), torch.randn(n, n)
            record(f'matmul{n}', 2 * n ** 3, lambda: a @ b, 5 if n >= 512 else 7)

    if selected('attention', only):
        q, k, v = (torch.randn(AB, AH, AL, AD) for _ in range(3))
        scale = 1 / math.sqrt(AD)
        record('attention', 2 * (2 * AB * AH * AL * AL * AD), lambda: torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v, 7)

    x, w = torch.randn(CN, CC, CH, CH), torch.randn(CO, CC, 3, 3)
    if selected('conv-fwd', only):
        record('conv-fwd', CONV_FLOPS, lambda: F.conv2d(x, w, padding=1), 7)
    if selected('conv-fwdbwd', only):
        xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
        record('conv-fwdbwd', 3 * CONV_FLOPS, lambda: torch.autograd.grad(F.conv2d(xg, wg, padding=1).sum(), [xg, wg]), 7,
               inference=False)

    if selected('block', only):
        class Block(nn.Module):
            """Pre-LayerNorm block: causal multi-head attention (qkv + proj) and a GELU (tanh) MLP."""

            def __init__(self):
                super().__init__()
                self.ln1, self.ln2 = nn.LayerNorm(BD), nn.LayerNorm(BD)
                self.qkv, self.proj = nn.Linear(BD, 3 * BD), nn.Linear(BD, BD)
                self.fc1, self.fc2 = nn.Linear(BD, BF), nn.Linear(BF, BD)
                self.register_buffer('mask', torch.full((BL, BL), float('-inf')).triu(1))

            def forward(self, h):
                b, l, d = h.shape
                q, k, v = (t.reshape(b, l, BH, d // BH).transpose(1, 2) for t in self.qkv(self.ln1(h)).chunk(3, -1))
                att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // BH) + self.mask, -1) @ v
                h = h + self.proj(att.transpose(1, 2).reshape(b, l, d))
                return h + self.fc2(F.gelu(self.fc1(self.ln2(h)), approximate='tanh'))

        block = Block()
        opt = torch.optim.AdamW(block.parameters(), lr=1e-3, weight_decay=0.01)
        bx, by = torch.randn(BB, BL, BD), torch.randn(BB, BL, BD)
        losses = []

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.mse_loss(block(bx), by)
            loss.backward()
            opt.step()
            losses.append(loss.item())

        record('block', BLOCK_FLOPS, step, 11, one_call=True, warmup=3, inference=False)
        results[-1]['info'] = {'steps': len(losses), 'firstLoss': losses[0], 'lastLoss': losses[-1]}

    if selected('viar-step', only):
        viar_step(record)
    if selected('viar-sample', only):
        viar_sample(record)

    print(json.dumps(results))


def viar_step(record):
    """The VIAR training step of bench/gpu-torch.py's measure_training (its VIAR class, the shipped checkpoint's config =
    VIAR_SMALL, batch 16, AdamW, k and m drawn per step), timed per step as peers.ts times ours."""
    import importlib.util
    import random
    import torch
    import torch.nn.functional as F
    spec = importlib.util.spec_from_file_location('gpu_torch', os.path.join(HERE, 'gpu-torch.py'))
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    _, meta = twin.read_safetensors(os.path.join(os.path.dirname(HERE), 'checkpoints', 'viar-mnist.safetensors'))
    cfg = json.loads(meta['config'])
    torch.manual_seed(0)
    model = twin.VIAR(cfg)
    model.init_weights()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    gen = torch.Generator()
    gen.manual_seed(0)
    batch = 16
    x = torch.randn(batch, model.L - model.first_len, cfg['vaeChannels'], generator=gen)
    targets = torch.randint(0, cfg['vocabSize'], (batch * model.L,), generator=gen)
    labels = torch.tensor([i % cfg['numClasses'] for i in range(batch)])
    (k0, k1), (m0, m1) = cfg['implicit']['noGradIters'], cfg['implicit']['withGradIters']
    draws = random.Random(0)

    def step():
        logits = model(labels, x, draws.randint(k0, k1), draws.randint(m0, m1), generator=gen)
        F.cross_entropy(logits.reshape(-1, cfg['vocabSize']), targets).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    block_params = 12 * cfg['embedDim'] ** 2
    flops = 3 * 2 * block_params * model.L * batch * (cfg['nPre'] + cfg['nPost'] + 1)
    record('viar-step', flops, step, 11, one_call=True, warmup=3, inference=False)


def viar_sample(record):
    """The shipped MNIST VIAR and tokenizer sampling 16 images with bench/gpu-torch.py's twin (classes cycling, schedule 4,
    CFG 1.5, top-k 60, top-p 0.96), as peers.ts times ours: one call per sample, the decoded image included."""
    import importlib.util
    import torch
    spec = importlib.util.spec_from_file_location('gpu_torch', os.path.join(HERE, 'gpu-torch.py'))
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    model, tok = twin.load_models(torch.device('cpu'))
    labels = [i % 10 for i in range(16)]
    seeds = iter(range(10 ** 6))

    def sample():
        return model.sample(tok, labels, seed=next(seeds), schedule=4, cfg=1.5, top_k=60, top_p=0.96)['image']

    record('viar-sample', 0, sample, 5, one_call=True, warmup=1)


def blas_name():
    """Which libblas.so.3 the alternatives system selects (torch here is built with BLAS_INFO=generic)."""
    for path in ('/usr/lib/x86_64-linux-gnu/libblas.so.3', '/usr/lib/aarch64-linux-gnu/libblas.so.3'):
        if os.path.exists(path):
            real = os.path.realpath(path)
            return 'OpenBLAS (' + real + ')' if 'openblas' in real else 'reference BLAS (' + real + ')'
    return 'unknown BLAS'


def main():
    parser = argparse.ArgumentParser(description='PyTorch side of bench/peers.ts')
    parser.add_argument('--samples', type=int, default=None, help='timed samples per workload (default 5/7/11 as in peers.ts)')
    parser.add_argument('--only', default=None, help='comma-separated workloads or prefixes: ' + ', '.join(WORKLOADS))
    parser.add_argument('--threads', default='1,2', help='thread counts to run, one process each (default 1,2)')
    parser.add_argument('--json', default=os.path.join(HERE, 'results', 'peers-torch.json'))
    parser.add_argument('--child', type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    only = [o.strip() for o in args.only.split(',') if o.strip()] if args.only else None

    if args.child is not None:
        child(args.child, args.samples, only)
        return

    results = []
    for threads in (int(t) for t in args.threads.split(',')):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        cmd = [sys.executable, os.path.abspath(__file__), '--child', str(threads)]
        if args.samples:
            cmd += ['--samples', str(args.samples)]
        if args.only:
            cmd += ['--only', args.only]
        print(f'torch, {threads} thread(s) (OPENBLAS_NUM_THREADS={threads}):', file=sys.stderr)
        out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
        results += json.loads(out.strip().splitlines()[-1])

    import torch
    doc = {
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'torch': torch.__version__,
        'python': platform.python_version(),
        'blas': blas_name(),
        'cpu': next((line.split(':', 1)[1].strip() for line in open('/proc/cpuinfo') if line.startswith('model name')), platform.processor()),
        'cpuCount': os.cpu_count(),
        'env': {k: os.environ.get(k) for k in ('OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE', 'GLIBC_TUNABLES')},
        'method': 'median of samples after warm-up; a sample repeats the call for >= 150 ms except the block step (1 call); '
                  'forward-only work under inference_mode; OPENBLAS_NUM_THREADS = OMP_NUM_THREADS = torch.set_num_threads',
        'results': results,
    }
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(doc, f, indent=2)
        f.write('\n')
    for r in results:
        print(f"{r['name']:<12} {r['impl']:<9} {r['ms']:>10.3f} ms {r['gflops']:>8.1f} GFLOP/s  cores {r['cores']:.2f}")
    print(f'wrote {os.path.relpath(args.json)}')


if __name__ == '__main__':
    main()
