// Winograd F(2×2, 3×3) against im2col for 3×3, stride-1 convolutions on the CPU, side by side in one process: the
// forward + backward (dX and dW) of Σ conv2d(x, w), over channel counts and image sizes, so the crossover that
// conv2d's dispatch uses (winogradApplies) can be read off. Run: npx tsx bench/winograd.ts [--json path] [--threads T]

import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  Rng, WINOGRAD_MIN_CHANNELS, WINOGRAD_MIN_PIXELS, describeCpuKernels, gradients, matmul, randn, reshape, setNumThreads, sum, tidy, unfold,
  winogradConv2d, type Tensor,
} from '../src/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    json: { type: 'string', default: join(here, 'results', 'winograd.json') },
    threads: { type: 'string', default: '2' },
    samples: { type: 'string', default: '9' },
  },
});
setNumThreads(Number(args.threads));
const SAMPLES = Number(args.samples);

/** conv2d through im2col (unfold + one matmul): the path Winograd replaces. */
const im2col = (x: Tensor, w: Tensor): Tensor => {
  const [n, , h, wd] = x.shape as [number, number, number, number], o = w.shape[0]!;
  return reshape(matmul(reshape(w, [o, -1]), unfold(x, 3, { padding: 1 })), [n, o, h, wd]);
};
const winograd = (x: Tensor, w: Tensor): Tensor => winogradConv2d(x, w, [1, 1]);

/** Median ms of fwd + bwd with the gradients read back, samples interleaved between the two paths. */
function medians(x: Tensor, w: Tensor): [number, number] {
  const step = (conv: typeof im2col) => () => tidy(() => {
    const [dx, dw] = gradients(sum(conv(x, w)), [x, w]) as [Tensor, Tensor];
    dx.dataSync();
    dw.dataSync();
  });
  const runs = [step(im2col), step(winograd)];
  const times: number[][] = [[], []];
  for (let i = 0; i < 2; i++) runs.forEach((r) => r());
  for (let s = 0; s < SAMPLES; s++) {
    runs.forEach((r, k) => {
      const t0 = performance.now();
      r();
      times[k]!.push(performance.now() - t0);
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return [median(times[0]!), median(times[1]!)];
}

const rows: { n: number; c: number; o: number; h: number; im2colMs: number; winogradMs: number; speedup: number; dispatch: string }[] = [];
const rng = new Rng(1);
console.log(`batch 16, 3×3 pad 1, fwd + bwd, ${args.threads} thread(s), ${describeCpuKernels()}`);
console.log('C → O     H×W     im2col ms  winograd ms  speedup  conv2d takes');
for (const [c, o] of [[4, 8], [8, 8], [8, 16], [16, 16], [32, 32], [32, 64], [64, 64]] as const) {
  for (const h of [7, 14, 16, 28]) {
    const x = randn([16, c, h, h], rng).requireGrad(), w = randn([o, c, 3, 3], rng).requireGrad();
    const [a, b] = medians(x, w);
    const dispatch = c >= WINOGRAD_MIN_CHANNELS && o >= WINOGRAD_MIN_CHANNELS && h * h >= WINOGRAD_MIN_PIXELS ? 'winograd' : 'im2col';
    rows.push({ n: 16, c, o, h, im2colMs: a, winogradMs: b, speedup: a / b, dispatch });
    console.log(`${`${c} → ${o}`.padEnd(9)} ${`${h}×${h}`.padEnd(7)} ${a.toFixed(3).padStart(9)}  ${b.toFixed(3).padStart(11)}  ${(a / b).toFixed(2).padStart(6)}×  ${dispatch}`);
    x.dispose(); w.dispose();
  }
}
const info = { date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, load: loadavg(), threads: Number(args.threads), kernels: describeCpuKernels(), node: process.version };
writeFileSync(args.json!, `${JSON.stringify({ info, rows }, null, 1)}\n`);
console.log(`wrote ${args.json}`);
