// Reference numbers for bench/gpu-torch.py's parity self-check, computed by our engine (cpu backend, float32) on the
// shipped MNIST VIAR and tokenizer: fixed per-scale indices (drawn once by our sampler, seed 0), the quantizer's
// teacher-forcing input, teacher-forced logits with 4 implicit iterations, the decoded images, the CFG-mixed logits
// of the KV-cached sampler under forced indices (non-constant iteration schedule), the top-k/top-p keep sets of those
// logits, and a truncated-gradient (k = 1 untaped, m = 2 taped) backward pass. Writes
// bench/results/gpu-torch-reference.safetensors (about 1.7 MB). Run: npx tsx bench/gpu-torch-reference.ts [--out PATH]

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { loadTokenizerCheckpoint } from '../src/cli/edit-commands.js';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'bench/results/gpu-torch-reference.safetensors' },
    viar: { type: 'string', default: 'checkpoints/viar-mnist.safetensors' },
    tokenizer: { type: 'string', default: 'checkpoints/tokenizer-mnist.safetensors' },
  },
});

const TF_LABELS = [0, 1, 2, 3, 4, 5, 6, 7];
const TF_ITERATIONS = 4;
const SAMPLER_ROWS = 4;
const SAMPLER_SCHEDULE = [4, 3, 3, 2, 2, 1];
const SAMPLE = { cfg: 1.5, topK: 60, topP: 0.96 };
const GRAD_SPLIT = { noGrad: 1, withGrad: 2 };

const { model: loaded } = V.loadTransformer(args.viar!, { model: 'viar' });
const model = loaded as V.VIAR;
const vae = loadTokenizerCheckpoint(args.tokenizer!);
model.eval();
const out = new Map<string, V.Tensor>();
const pns = model.config.patchNums;
const vocab = model.config.vocabSize;

V.noGrad(() => {
  // fixed indices: one draw of our sampler with the bench's settings (real token statistics)
  const drawn = model.sample(vae, { labels: TF_LABELS, seed: 0, iterSchedule: 4, ...SAMPLE } as V.ViarSampleOptions);
  out.set('labels', V.tensor(Int32Array.from(TF_LABELS), { shape: [TF_LABELS.length] }));
  drawn.indices.forEach((idx, si) => out.set(`indices.${si}`, idx));
  const x = vae.quantize.indicesToVarInput(drawn.indices);
  out.set('x', x);
  out.set('logits', model.forward(TF_LABELS, x, { iterations: TF_ITERATIONS }));
  out.set('image', V.mul(V.add(vae.indicesToImage(drawn.indices), 1), 0.5));

  // the cached sampler under teacher forcing (first rows), recording the CFG-mixed logits of every scale
  const labels = TF_LABELS.slice(0, SAMPLER_ROWS);
  const forced = drawn.indices.map((idx) => V.slice(idx, [[0, SAMPLER_ROWS]]));
  const s = model.sample(vae, { labels, forcedIndices: forced, recordLogits: true, iterSchedule: SAMPLER_SCHEDULE, ...SAMPLE } as V.ViarSampleOptions);
  out.set('sampler.labels', V.tensor(Int32Array.from(labels), { shape: [labels.length] }));
  out.set('sampler.logits', V.concat(s.logits!, 1));
  out.set('sampler.image', s.image);

  // top-k / top-p keep sets of the mixed logits: per row, how many entries survive and the sum of their positions
  const filtered = V.filterLogits(out.get('sampler.logits')!, SAMPLE).dataSync();
  const rows = filtered.length / vocab;
  const kept = new Int32Array(rows), keptSum = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < vocab; i++) if (filtered[r * vocab + i] !== -Infinity) { kept[r]!++; keptSum[r]! += i; }
  }
  out.set('filter.kept', V.tensor(kept, { shape: [SAMPLER_ROWS, rows / SAMPLER_ROWS] }));
  out.set('filter.keptIndexSum', V.tensor(keptSum, { shape: [SAMPLER_ROWS, rows / SAMPLER_ROWS] }));
});

// one backward pass: cross-entropy of the teacher-forced logits against the indices themselves, k = 1 untaped
// iteration then m = 2 taped (eval mode: no label dropout), gradient norm of every parameter
const targets = V.concat(pns.map((_, si) => out.get(`indices.${si}`)!), 1); // [B, L]
const loss = V.crossEntropy(V.reshape(model.forward(TF_LABELS, out.get('x')!, { iterations: GRAD_SPLIT }), [-1, vocab]), V.reshape(targets, [-1]));
loss.backward();
const names: string[] = [];
const norms: number[] = [];
const params = model.namedParameters();
for (const [name, p] of params) {
  names.push(name);
  let sq = 0;
  if (p.grad) for (const g of Array.from(p.grad.dataSync())) sq += g * g;
  norms.push(Math.sqrt(sq));
}
out.set('grad.loss', V.tensor(Float32Array.from([loss.item()]), { shape: [1] }));
out.set('grad.norms', V.tensor(Float32Array.from(norms), { shape: [norms.length] }));
for (const name of ['implicit_block.attn.scale_mul_1H11', 'implicit_block_projection.2.bias', 'pre_blocks.0.attn.q_bias', 'head.bias']) {
  const p = params.find(([n]) => n === name)?.[1];
  if (p?.grad) out.set(`grad.${name}`, V.detach(p.grad));
}

mkdirSync(dirname(args.out!), { recursive: true });
V.saveSafetensors(args.out!, out, {
  about: 'bench/gpu-torch-reference.ts: our engine (cpu backend, float32) on the shipped MNIST VIAR; inputs and expected outputs for bench/gpu-torch.py',
  viar: args.viar!, tokenizer: args.tokenizer!,
  tfIterations: String(TF_ITERATIONS), samplerSchedule: JSON.stringify(SAMPLER_SCHEDULE), sample: JSON.stringify(SAMPLE),
  gradSplit: JSON.stringify(GRAD_SPLIT), gradNames: JSON.stringify(names), indicesSeed: '0',
});
console.log(`wrote ${args.out} (${out.size} tensors; loss ${loss.item().toFixed(6)})`);
