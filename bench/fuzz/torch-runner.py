#!/usr/bin/python3
# PyTorch side of the differential fuzzer (bench/fuzz/run.ts): replays each program of a JSONL file (inputs, steps,
# cotangents) in float64 PyTorch 1.13, compares the output, gradients and second derivatives with ours, and prints
# the agreement with every disagreement classified (documented difference, or unexplained with its first
# diverging op). Run through run.ts; directly: /usr/bin/python3 bench/fuzz/torch-runner.py programs.jsonl

import argparse
import collections
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
DT = torch.float64


NON_FINITE = ('NaN', 'Infinity', '-Infinity')


def decode(values):
    return [float(v) if isinstance(v, str) else v for v in values]


def decode_args(v):
    """Op arguments with their ±∞/NaN numbers restored (run.ts writes them as strings)."""
    if isinstance(v, str) and v in NON_FINITE:
        return float(v)
    if isinstance(v, list):
        return [decode_args(e) for e in v]
    if isinstance(v, dict):
        return {k: decode_args(e) for k, e in v.items()}
    return v


def tensor_of(rec):
    if rec['dtype'] == 'int32':
        return torch.tensor(rec['values'], dtype=torch.int64).reshape(rec['shape'])
    return torch.tensor(decode(rec['values']), dtype=DT).reshape(rec['shape'])


def dims(axes, rank):
    return tuple(range(rank)) if axes is None else tuple(axes)


def reduce_all(fn, x, a, **kw):
    # our reductions take a list of axes (None: all); torch wants dim tuples (a 0-d tensor reduces over ())
    return fn(x, dim=dims(a['axes'], x.dim()), keepdim=a['keepdims'], **kw)


def binary(fn):
    def run(x, a, e):
        if e:
            return fn(e[0], x) if a['swap'] else fn(x, e[0])
        return fn(x, torch.tensor(a['scalar'], dtype=DT))
    return run


def slice_op(x, a):
    index, dropped = [], 0
    for spec in a['specs']:
        if spec is None:
            index.append(slice(None))
        elif isinstance(spec, int):
            index.append(spec)
        else:
            index.append(slice(spec[0], spec[1], spec[2]))
    return x[tuple(index)]


def unsqueeze_expand(x, a):
    u = x.unsqueeze(a['axis'])
    shape = list(u.shape)
    shape[a['axis']] = a['n']
    return u.expand(shape)


def pad_op(x, a):
    flat = []
    for before, after in reversed(a['widths']):
        flat += [before, after]
    return F.pad(x, flat, value=a['value'])


def interpolate(x, a):
    mode = a['mode']
    align = False if mode in ('bilinear', 'bicubic') else None
    return F.interpolate(x, size=tuple(a['size']), mode=mode, align_corners=align)


def cross_entropy(x, a, e):
    return F.cross_entropy(x, e[0], ignore_index=-100, label_smoothing=a['smoothing'], reduction=a['reduction'])


def cumsum(x, a):
    if a['reverse']:
        return torch.flip(torch.cumsum(torch.flip(x, [a['axis']]), a['axis']), [a['axis']])
    return torch.cumsum(x, a['axis'])


def layer_norm(x, a, e):
    k = a['k']
    return F.layer_norm(x, x.shape[x.dim() - k:], e[0] if a['affine'] else None, e[1] if a['affine'] else None, 1e-5)


OPS = {
    'neg': lambda x, a, e: torch.neg(x), 'abs': lambda x, a, e: torch.abs(x), 'exp': lambda x, a, e: torch.exp(x),
    'log': lambda x, a, e: torch.log(x), 'sqrt': lambda x, a, e: torch.sqrt(x), 'rsqrt': lambda x, a, e: torch.rsqrt(x),
    'sin': lambda x, a, e: torch.sin(x), 'cos': lambda x, a, e: torch.cos(x), 'tanh': lambda x, a, e: torch.tanh(x),
    'sigmoid': lambda x, a, e: torch.sigmoid(x), 'relu': lambda x, a, e: torch.relu(x), 'softplus': lambda x, a, e: F.softplus(x),
    'erf': lambda x, a, e: torch.erf(x), 'square': lambda x, a, e: torch.square(x), 'reciprocal': lambda x, a, e: torch.reciprocal(x),
    'sign': lambda x, a, e: torch.sign(x), 'floor': lambda x, a, e: torch.floor(x), 'gelu': lambda x, a, e: F.gelu(x),
    'geluTanh': lambda x, a, e: F.gelu(x, approximate='tanh'), 'silu': lambda x, a, e: F.silu(x),
    'logSigmoid': lambda x, a, e: F.logsigmoid(x), 'contiguous': lambda x, a, e: x.contiguous(),
    # torch.clamp refuses two missing bounds; ours is the identity there
    'clamp': lambda x, a, e: x.clone() if a['lo'] == -math.inf and a['hi'] == math.inf else
    torch.clamp(x, None if a['lo'] == -math.inf else a['lo'], None if a['hi'] == math.inf else a['hi']),
    'add': binary(torch.add), 'sub': binary(torch.sub), 'mul': binary(torch.mul), 'div': binary(torch.div), 'pow': binary(torch.pow),
    'maximum': binary(torch.maximum), 'minimum': binary(torch.minimum),
    'where': lambda x, a, e: torch.where(x > 0, x, e[0]),
    'castRoundTrip32': lambda x, a, e: x.float().double(),
    'castRoundTripInt': lambda x, a, e: x + x.int().double(),
    'sum': lambda x, a, e: reduce_all(torch.sum, x, a),
    'mean': lambda x, a, e: reduce_all(torch.mean, x, a),
    'max': lambda x, a, e: reduce_all(torch.amax, x, a),
    'min': lambda x, a, e: reduce_all(torch.amin, x, a),
    'logSumExp': lambda x, a, e: reduce_all(torch.logsumexp, x, a),
    'variance': lambda x, a, e: reduce_all(torch.var, x, a, unbiased=a['correction'] == 1),
    'std': lambda x, a, e: reduce_all(torch.std, x, a, unbiased=a['correction'] == 1),
    'norm': lambda x, a, e: torch.linalg.vector_norm(x, ord=a['p'], dim=dims(a['axes'], x.dim()), keepdim=a['keepdims']),
    'softmax': lambda x, a, e: torch.softmax(x, a['axis']),
    'logSoftmax': lambda x, a, e: torch.log_softmax(x, a['axis']),
    'cumsum': lambda x, a, e: cumsum(x, a),
    'reshape': lambda x, a, e: x.reshape(a['shape']),
    'permute': lambda x, a, e: x.permute(a['dims']),
    'transpose': lambda x, a, e: x.transpose(a['a'], a['b']),
    'unsqueezeExpand': lambda x, a, e: unsqueeze_expand(x, a),
    'slice': lambda x, a, e: slice_op(x, a),
    'flip': lambda x, a, e: torch.flip(x, a['axes']),
    'pad': lambda x, a, e: pad_op(x, a),
    'concat': lambda x, a, e: torch.cat([x, e[0]], a['axis']),
    'tril': lambda x, a, e: torch.tril(x, a['k']),
    'triu': lambda x, a, e: torch.triu(x, a['k']),
    'matmul': lambda x, a, e: torch.matmul(x, e[0]),
    'layerNorm': layer_norm,
    'groupNorm': lambda x, a, e: F.group_norm(x, a['groups'], e[0], e[1], 1e-5),
    'crossEntropy': cross_entropy,
    'interpolate': lambda x, a, e: interpolate(x, a),
    'conv2d': lambda x, a, e: F.conv2d(x, e[0], e[1] if a['bias'] else None, stride=a['stride'], padding=a['padding'], groups=a['groups']),
    'maxPool2d': lambda x, a, e: F.max_pool2d(x, a['kernel'], stride=a['stride'], padding=a['padding']),
    'avgPool2d': lambda x, a, e: F.avg_pool2d(x, a['kernel'], stride=a['stride'], padding=a['padding'], count_include_pad=a['countIncludePad']),
    'gather': lambda x, a, e: torch.gather(x, a['axis'], e[0]),
    'indexSelect': lambda x, a, e: torch.index_select(x, a['axis'], e[0]),
    'topk': lambda x, a, e: torch.topk(x, a['k'], dim=a['axis'], largest=a['largest']).values,
}


def run_invalid(x, call):
    a = call['args']
    name = call['name']
    z = lambda *s: torch.zeros(s, dtype=DT)
    if name in ('sum', 'sumRepeated'):
        return torch.sum(x, dim=tuple(a['axes']))
    if name == 'softmax':
        return torch.softmax(x, a['axis'])
    if name == 'reshape':
        return x.reshape(a['shape'])
    if name == 'matmulMismatch':
        return torch.matmul(x.reshape(1) if x.dim() == 0 else x, z(a['k'], 2))
    if name == 'addMismatch':
        return x + torch.zeros(a['shape'], dtype=DT)
    if name == 'maxEmpty':
        return torch.amax(torch.zeros((0, *x.shape), dtype=DT), 0)
    if name == 'concatRank':
        return torch.cat([x, torch.zeros((*x.shape, 2), dtype=DT)], 0)
    if name == 'crossEntropyFloatTarget':
        return F.cross_entropy(z(2, 3), torch.zeros(2, dtype=torch.int32))
    if name == 'permute':
        return x.permute(a['dims'])
    if name == 'expandBad':
        return x.expand(a['shape'])
    raise ValueError(name)


def grad_or_zeros(y, xs, gy, create_graph):
    if not y.requires_grad:
        return [torch.zeros_like(x) for x in xs]
    gs = torch.autograd.grad(y, xs, gy, create_graph=create_graph, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(xs, gs)]


def evaluate(p):
    """PyTorch's results for program p: trace (shapes), out, grads, grads2, or error (stage, message)."""
    res = {'trace': []}
    inputs = [tensor_of(r) for r in p['inputs']]
    leaves = [t.requires_grad_() for t in inputs if t.dtype == DT]
    stage = 'forward'
    try:
        x = inputs[0]
        for step in p['steps']:
            x = OPS[step['op']](x, decode_args(step['args']), [inputs[i] for i in step['extras']])
            res['trace'].append(x.detach())
        if p['kind'] == 'invalid':
            stage = 'invalid'
            run_invalid(x, decode_args(p['invalid']))
            res['error'] = {'stage': 'invalid', 'message': 'accepted'}
            return res
        res['out'] = x.detach()
        cot = torch.tensor(decode(p['cot']), dtype=DT).reshape(x.shape)
        stage = 'grad'
        grads = grad_or_zeros(x, leaves, cot, True)
        res['grads'] = [g.detach() for g in grads]
        stage = 'grad2'
        total = sum((g * torch.tensor(decode(c), dtype=DT).reshape(g.shape)).sum() for g, c in zip(grads, p['cot2']))
        res['grads2'] = [g.detach() for g in grad_or_zeros(total, leaves, None, False)] if torch.is_tensor(total) else [torch.zeros_like(l) for l in leaves]
    except Exception as e:  # noqa: BLE001 - any PyTorch error is a result to compare
        res['error'] = {'stage': stage, 'message': str(e).split('\n')[0][:200]}
    return res


def ours_tensor(rec):
    return torch.tensor(decode(rec['values']), dtype=DT).reshape(rec['shape'])


def mismatch(ours, theirs, rtol, atol_scale):
    """None when equal within tolerance (NaN matches NaN, ±∞ the same ∞), else a short description."""
    if list(ours.shape) != list(theirs.shape):
        return f'shape {list(ours.shape)} vs {list(theirs.shape)}'
    if ours.numel() == 0:
        return None
    finite = torch.isfinite(theirs)
    scale = theirs[finite].abs().max().item() if finite.any() else 1.0
    close = torch.isclose(ours, theirs, rtol=rtol, atol=atol_scale * max(scale, 1.0), equal_nan=True)
    if bool(close.all()):
        return None
    i = int((~close).flatten().nonzero()[0])
    return f'[{i}] {ours.flatten()[i].item():.6g} vs {theirs.flatten()[i].item():.6g}'


# Documented differences from PyTorch (README, "Differences from PyTorch"). A disagreement that fits one of these
# descriptions is counted as that difference; everything else is reported as unexplained.
KINKS = {'max', 'min', 'maximum', 'minimum', 'relu', 'abs', 'clamp', 'maxPool2d', 'topk', 'norm', 'std', 'variance',
         'layerNorm', 'groupNorm', 'where', 'floor', 'sign', 'castRoundTripInt', 'castRoundTrip32', 'sqrt'}
AMPLIFIERS = {'log', 'reciprocal', 'rsqrt', 'div', 'pow', 'sqrt', 'logSoftmax', 'crossEntropy'}
DISCONTINUOUS = {'sign', 'floor', 'castRoundTripInt', 'where'}
SINGULAR = {'norm', 'std', 'variance', 'layerNorm', 'groupNorm', 'pow'}
TORCH_REFUSES = ('negative output size', 'Expected more than 1 value per channel', 'Non-empty 4D data tensor expected',
                 'non-zero size', 'cannot compute the inf norm', 'Expected reduction dim')


def has_special(p):
    return any(isinstance(v, str) or (v != 0 and (abs(v) > 1e150 or abs(v) < 1e-150))
               for r in p['inputs'] if r['dtype'] == 'float64' for v in r['values'])


# ops that make equal values out of distinct ones (so a later max/min/std meets ties)
TIE_MAKERS = {'unsqueezeExpand', 'gather', 'indexSelect', 'castRoundTripInt', 'floor', 'sign', 'relu', 'clamp', 'pad', 'tril', 'triu'}


def has_ties(p):
    return any(len(set(map(str, r['values']))) < len(r['values']) for r in p['inputs'] if r['dtype'] == 'float64') or \
        any(s['op'] in TIE_MAKERS for s in p['steps'])


def has_empty(p):
    return any(0 in r['shape'] for r in p['inputs']) or any(0 in t['shape'] for t in p['ours']['trace'])


def non_finite_trace(p):
    return any(isinstance(v, str) or abs(v) > 1e150 for t in p['ours']['trace'] for v in t['values'])


def values_of(detail):
    """The two numbers of a mismatch detail '[i] a vs b' (or None)."""
    try:
        a, b = detail.split('] ', 1)[1].split(' vs ')
        return float(a), float(b)
    except (IndexError, ValueError):
        return None


def near_discontinuity(p, op):
    """Whether the input of a step running `op` holds a value within 1e-9 of 0 or of an integer."""
    for i, s in enumerate(p['steps']):
        if s['op'] == op:
            before = p['ours']['trace'][i - 1]['values'] if i > 0 else p['inputs'][0]['values']
            if any(not isinstance(v, str) and abs(v - round(v)) < 1e-9 * max(1.0, abs(v)) for v in before):
                return True
    return False


def huge_argument(p, op):
    """Whether a step running `op` (sin, cos) got an argument beyond 1e15, where one ulp changes the result."""
    for i, s in enumerate(p['steps']):
        if s['op'] == op:
            before = p['ours']['trace'][i - 1]['values'] if i > 0 else p['inputs'][0]['values']
            if any(not isinstance(v, str) and abs(v) > 1e15 for v in before):
                return True
    return False


def documented(p, where, theirs):
    stage, op, detail = where
    ops = {s['op'] for s in p['steps']}
    pair = values_of(detail)
    inf_pair = pair is not None and math.isinf(pair[0]) and math.isinf(pair[1])
    not_both_finite = pair is not None and not (math.isfinite(pair[0]) and math.isfinite(pair[1]))
    if stage == 'error':
        te, oe = theirs.get('error'), p['ours'].get('error')
        if te and not oe and (has_empty(p) or any(m in te['message'] for m in TORCH_REFUSES)):
            return 'PyTorch refuses an empty or degenerate input that we compute'
        if p['kind'] == 'invalid' and p['invalid']['name'] == 'concatRank' and te and te['message'] == 'accepted' and p['ours']['trace'] and p['ours']['trace'][-1]['shape'] == [0]:
            return "PyTorch's legacy rule: cat skips a 1-D empty tensor of any other rank"
        return None
    if stage == 'forward' and op == 'sign' and detail.endswith('nan vs 0'):
        return 'sign(NaN) is NaN (PyTorch: 0)'
    if inf_pair:
        return 'signed zero: ±0 reached a division, log or rsqrt with the other sign (±∞ swapped)'
    if stage == 'forward' and op in ('layerNorm', 'groupNorm', 'norm') and (has_special(p) or non_finite_trace(p)):
        return 'huge values: norms scaled before squaring (PyTorch overflows to ∞/NaN)'
    tiny_vs_zero = pair is not None and 0.0 in pair and max(abs(pair[0]), abs(pair[1])) < 1e-6
    if stage == 'forward' and op in AMPLIFIERS and (not_both_finite or tiny_vs_zero):
        return 'rounding near 0 amplified by log/div/rsqrt (0 in one engine, ~1e-17 in the other)'
    if stage == 'forward' and op in ('sin', 'cos') and huge_argument(p, op):
        return 'rounding: sin/cos of an argument beyond 1e15 (one ulp of it changes the result)'
    if stage == 'forward' and op in DISCONTINUOUS and near_discontinuity(p, op):
        return 'rounding across a discontinuity (sign, floor, int cast, where at a value ~1e-16 from it)'
    if stage == 'grad2' and ops & SINGULAR and pair is not None and math.isnan(pair[1]) and not math.isnan(pair[0]):
        return 'second derivative at a singular point (norm/std at 0, pow at base 0): PyTorch NaN, ours finite'
    if stage != 'forward' and has_empty(p):
        return 'empty input: PyTorch\'s gradient of a reduction over no elements is NaN, ours 0'
    if stage != 'forward' and has_ties(p) and ops & KINKS:
        return 'gradient at a tie or kink (maxPool2d/max/min split among ties; one-sided at kinks)'
    non_finite_grads = any(isinstance(v, str) for g in p['ours'].get('grads') or [] for v in g['values'])
    if stage != 'forward' and (has_special(p) or non_finite_trace(p) or non_finite_grads) and (pair is None or not (math.isfinite(pair[0]) and math.isfinite(pair[1]))):
        return 'non-finite values: ∞·0 and NaN orderings differ between gradient formulas'
    return None


def show(p):
    """Prints one program with both sides' results (for --show)."""
    theirs = evaluate(p)
    print(json.dumps({k: p[k] for k in ('id', 'kind', 'inputs', 'steps', 'invalid') if k in p}))
    for key in ('out', 'grads', 'grads2', 'error'):
        print(f'ours  {key}: {p["ours"].get(key)}')
        print(f'torch {key}: {theirs.get(key)}')
    for i, (a, b) in enumerate(zip(p['ours']['trace'], theirs['trace'])):
        print(f'step {i} {p["steps"][i]["op"]}: ours {decode(a["values"])[:12]} torch {b.flatten().tolist()[:12]}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('programs')
    ap.add_argument('--report')
    ap.add_argument('--max-unexplained', type=int)
    ap.add_argument('--show', type=int, help='print program ID with both results and exit')
    ap.add_argument('--strict', action='store_true', help='classify nothing as a documented difference')
    args = ap.parse_args()
    if args.show is not None:
        for line in open(args.programs):
            p = json.loads(line)
            if p['id'] == args.show:
                show(p)
        return
    counts = collections.Counter()
    unexplained = collections.Counter()
    documented_counts = collections.Counter()
    examples = {}
    documented_examples = {}
    total = 0
    for line in open(args.programs):
        p = json.loads(line)
        total += 1
        ours = p['ours']
        theirs = evaluate(p)
        verdict, where = agree(p, ours, theirs)
        if verdict == 'agree':
            counts['agree'] += 1
            continue
        reason = None if args.strict else documented(p, where, theirs)
        if reason:
            counts['documented'] += 1
            documented_counts[reason] += 1
            documented_examples.setdefault(reason, []).append({'id': p['id'], 'ops': [s['op'] for s in p['steps']], 'where': list(where)})
            continue
        counts['unexplained'] += 1
        key = f'{where[0]}: {where[1]}'
        unexplained[key] += 1
        examples.setdefault(key, {'id': p['id'], 'ops': [s['op'] for s in p['steps']], 'detail': where[2]})
    agree_n = counts['agree']
    print(f'{total} programs: {agree_n} agree ({100 * agree_n / max(total, 1):.2f} %), '
          f'{counts["documented"]} documented differences, {counts["unexplained"]} unexplained')
    for reason, c in documented_counts.most_common():
        print(f'  documented  {c:5d}  {reason}')
    for key, c in unexplained.most_common():
        ex = examples[key]
        print(f'  unexplained {c:5d}  {key}  (e.g. program {ex["id"]}: {" → ".join(ex["ops"])}; {ex["detail"]})')
    if args.report:
        with open(args.report, 'w') as f:
            json.dump({'programs': total, 'agree': agree_n, 'documented': dict(documented_counts),
                       'documented_examples': {k: v[:5] for k, v in documented_examples.items()},
                       'unexplained': {k: {'count': c, **examples[k]} for k, c in unexplained.items()}}, f, indent=1)
    if args.max_unexplained is not None and counts['unexplained'] > args.max_unexplained:
        sys.exit(1)


def first_divergence(p, ours, theirs):
    """(op, detail) of the first step whose value differs, or None."""
    for i, (a, b) in enumerate(zip(ours['trace'], theirs['trace'])):
        m = mismatch(ours_tensor(a), b, 1e-6, 1e-9)
        if m:
            return p['steps'][i]['op'], m
    return None


def first_diverging_op(p, ours, theirs):
    d = first_divergence(p, ours, theirs)
    return d[0] if d else (p['steps'][len(theirs['trace'])]['op'] if len(theirs['trace']) < len(p['steps']) else 'input')


def agree(p, ours, theirs):
    """('agree', None) or ('disagree', (stage, op, detail))."""
    oe, te = ours.get('error'), theirs.get('error')
    if p['kind'] == 'invalid':
        if oe and oe['message'] != 'accepted' and te and te['message'] != 'accepted':
            return ('agree', None) if oe['named'] else ('disagree', ('error', 'unnamed error', oe['message']))
        if oe and te and oe['message'] == 'accepted' and te['message'] == 'accepted':
            return 'agree', None
        return 'disagree', ('error', 'invalid call ' + p['invalid']['name'], f'ours: {oe and oe["message"]}; torch: {te and te["message"]}')
    if oe or te:
        if oe and te and oe['stage'] == te['stage']:
            return ('agree', None) if oe['named'] else ('disagree', ('error', 'unnamed error', oe['message']))
        op = first_diverging_op(p, ours, theirs)
        return 'disagree', ('error', f'{op} ({(oe or te)["stage"]})', f'ours: {oe and oe["message"]}; torch: {te and te["message"]}')
    d = first_divergence(p, ours, theirs)
    if d:
        return 'disagree', ('forward', d[0], d[1])
    for stage, key, rtol in (('grad', 'grads', 1e-5), ('grad2', 'grads2', 1e-4)):
        for i, (o, t) in enumerate(zip(ours[key], theirs[key])):
            m = mismatch(ours_tensor(o), t, rtol, 1e-7)
            if m:
                return 'disagree', (stage, '/'.join(sorted(set(s['op'] for s in p['steps']))), f'input {i} {m}')
    return 'agree', None


if __name__ == '__main__':
    main()
