// Zero-shot inpainting of masked MNIST test images with the shipped VIAR and VAR (editing.ts inpaint): masked-region MSE,
// context MSE, seam and classifier agreement with the true label, paired VIAR − VAR. Writes experiments/results/
// inpainting.{json,svg} and inpainting-examples.png. Run: npx tsx experiments/inpainting.ts [--help]

import { parseArgs } from 'node:util';
import * as V from '../src/index.js';
import { SAMPLE_DEFAULTS, loadSplit, loadTokenizer } from '../src/cli/transformer-commands.js';
import { RESULTS_DIR, intArg, progressBar, runInfo, sig, spread, writeJson, writeText } from './lib/common.js';
import { barChart, panels } from './svg-plot.js';

const HELP = `npx tsx experiments/inpainting.ts [options]
  Takes --images test images evenly spaced over the MNIST test split (class-balanced), masks them, and regenerates the
  masked region with VIAR (its default schedule) and VAR, conditioned on the null class (zero-shot, as the official
  notebook) and on the true class, once per seed. Per image (pixels in [0, 1]):
    maskedMse     mean squared error against the original inside the mask
    contextMse    the same outside the mask (what the kept tokens reproduce; the tokenizer's error is the floor)
    seam          mean |I(p) − I(q)| over 4-neighbour pixel pairs straddling the mask edge, minus the original's
    agreement     the shipped classifier's prediction equals the true label
  References: the tokenizer's reconstruction of the original (no masking: the floor of every figure) and a blank fill
  (the masked region set to background: what the kept context alone gives the classifier).
  --images N (default 50)   --masks LIST (default 'center;bottom'; any editMask name: center, left, right, top, bottom, border, box:x0,y0,x1,y1)
  --seeds LIST (default '0,1')   --conditions LIST (default 'null,true')
  --viar P (default checkpoints/viar-mnist.safetensors)   --var P (default checkpoints/var-mnist.safetensors; 'none' = skip)
  --classifier P (default checkpoints/classifier-mnist.safetensors)   --threads T (default 1)   --out-dir DIR (default ${RESULTS_DIR})`;

const { values: a } = parseArgs({
  options: {
    images: { type: 'string' }, masks: { type: 'string' }, seeds: { type: 'string' }, conditions: { type: 'string' }, viar: { type: 'string' }, var: { type: 'string' },
    classifier: { type: 'string' }, threads: { type: 'string' }, 'out-dir': { type: 'string' }, help: { type: 'boolean' },
  },
});
if (a.help) { console.log(HELP); process.exit(0); }
V.setNumThreads(intArg('threads', a.threads, 1));
const count = intArg('images', a.images, 50);
const masks = (a.masks ?? 'center;bottom').split(';').filter((m) => m.trim() !== '');
const seeds = (a.seeds ?? '0,1').split(',').map((s) => intArg('seeds', s, 0, 0));
const conditions = (a.conditions ?? 'null,true').split(',').map((c) => {
  if (c !== 'null' && c !== 'true') throw new Error(`--conditions takes null and/or true, got '${c}'`);
  return c;
});
const viarPath = a.viar ?? 'checkpoints/viar-mnist.safetensors', varPath = a.var ?? 'checkpoints/var-mnist.safetensors';
const outDir = a['out-dir'] ?? RESULTS_DIR;
const info0 = runInfo('experiments/inpainting.ts', process.argv.slice(2));

const net = new V.LeNet(V.LENET_DEFAULTS, new V.Rng(0));
V.loadModule(a.classifier ?? 'checkpoints/classifier-mnist.safetensors', net);
net.eval();
const { test } = loadSplit('mnist');
const picked = test.subset(Array.from({ length: count }, (_, i) => Math.floor((i * test.count) / count)));
const [H, W] = [picked.height, picked.width];
const original = picked.images; // [N, 1, H, W] in [0, 1]
const labels = Array.from(picked.labels);
const toSigned = () => V.tensor(Float32Array.from(original, (x) => 2 * x - 1), { shape: [count, 1, H, W] });

/** Predictions of the classifier for images [N, 1, H, W] in [0, 1]. */
const classify = (img: V.Tensor): number[] => V.tidy(() => V.noGrad(() => Array.from(V.argmax(net.forward(img), 1).dataSync())));

interface Figures { maskedMse: number[]; contextMse: number[]; seam: number[]; correct: boolean[] }
/** Per-image figures of images [N, 1, H, W] in [0, 1] against the originals, for a 0/1 mask [H·W]. */
function figures(img: Float32Array, mask: Float32Array, predicted: number[]): Figures {
  const n = H * W;
  const out: Figures = { maskedMse: [], contextMse: [], seam: [], correct: [] };
  for (let i = 0; i < count; i++) {
    let inside = 0, inCount = 0, outside = 0, outCount = 0, seamGen = 0, seamOrig = 0, pairs = 0;
    for (let p = 0; p < n; p++) {
      const d = (img[i * n + p]! - original[i * n + p]!) ** 2;
      if (mask[p]! > 0.5) { inside += d; inCount++; } else { outside += d; outCount++; }
      const y = Math.floor(p / W), x = p % W;
      for (const q of [x + 1 < W ? p + 1 : -1, y + 1 < H ? p + W : -1]) {
        if (q < 0 || (mask[p]! > 0.5) === (mask[q]! > 0.5)) continue;
        seamGen += Math.abs(img[i * n + p]! - img[i * n + q]!);
        seamOrig += Math.abs(original[i * n + p]! - original[i * n + q]!);
        pairs++;
      }
    }
    out.maskedMse.push(inside / Math.max(1, inCount));
    out.contextMse.push(outside / Math.max(1, outCount));
    out.seam.push(pairs ? (seamGen - seamOrig) / pairs : 0);
    out.correct.push(predicted[i] === labels[i]);
  }
  return out;
}
const summarize = (f: Figures) => ({
  maskedMse: sig(spread(f.maskedMse).mean), maskedMseStd: sig(spread(f.maskedMse).std), contextMse: sig(spread(f.contextMse).mean),
  seam: sig(spread(f.seam).mean), agreement: sig(f.correct.filter(Boolean).length / f.correct.length), samples: f.correct.length,
});
const merge = (fs: Figures[]): Figures => ({
  maskedMse: fs.flatMap((f) => f.maskedMse), contextMse: fs.flatMap((f) => f.contextMse), seam: fs.flatMap((f) => f.seam), correct: fs.flatMap((f) => f.correct),
});

const models: { name: string; path: string }[] = [{ name: 'VIAR', path: viarPath }, ...(varPath !== 'none' ? [{ name: 'VAR', path: varPath }] : [])];
const loaded = models.map((m) => ({ ...m, ...V.loadTransformer(m.path) }));
const vae = loadTokenizer(loaded[0]!.info.metadata.tokenizer ?? 'checkpoints/tokenizer-mnist.safetensors', 'mnist');
const signed = toSigned();
// the tokenizer's reconstruction (no mask): the floor of every figure
const recon = V.tidy(() => V.noGrad(() => V.keep(V.mul(V.add(vae.indicesToImage(vae.imageToIndices(signed)), 1), 0.5))));
const reconData = Float32Array.from(recon.dataSync());
const reconPred = classify(recon);
const originalPred = classify(V.tensor(original, { shape: [count, 1, H, W] }));

const rows: Record<string, unknown>[] = [];
const perImage = new Map<string, Figures>(); // mask|condition|model → figures over images × seeds (the same order for every model)
const paired: Record<string, unknown>[] = [];
const examples: V.Tensor[] = []; // grid rows: original | masked | reconstruction | VIAR | VAR (first mask, null class, first seed)
const bar = progressBar('inpainting', 'runs');
bar.start(masks.length * conditions.length * seeds.length * loaded.length, 0, { what: '' });
const t0 = performance.now();
for (const [mi, maskName] of masks.entries()) {
  const maskT = V.editMask(maskName, H, W);
  const mask = Float32Array.from(maskT.dataSync());
  const blank = Float32Array.from(original, (x, k) => (mask[k % (H * W)]! > 0.5 ? 0 : x));
  const blankFig = figures(blank, mask, classify(V.tensor(blank, { shape: [count, 1, H, W] })));
  const reconFig = figures(reconData, mask, reconPred);
  rows.push({ mask: maskName, condition: null, method: 'tokenizer reconstruction (no mask)', seeds: null, ...summarize(reconFig) });
  rows.push({ mask: maskName, condition: null, method: 'blank fill', seeds: null, ...summarize(blankFig) });
  for (const condition of conditions) {
    for (const m of loaded) {
      const perSeed: Figures[] = [];
      let ms = 0;
      let tokensRegenerated = '';
      for (const seed of seeds) {
        bar.update({ what: `${maskName} ${condition} ${m.name} seed ${seed}` });
        const s0 = performance.now();
        const r = V.inpaint(m.model as V.VAR | V.VIAR, vae, signed, maskT, {
          cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, seed, labels: condition === 'true' ? labels : -1,
        });
        ms += performance.now() - s0;
        tokensRegenerated = r.masks.map((t) => `${t.side}×${t.side}: ${t.count / count}/${t.side * t.side}`).join(', ');
        const data = Float32Array.from(r.image.dataSync());
        perSeed.push(figures(data, mask, classify(r.image)));
        if (mi === 0 && condition === conditions[0] && seed === seeds[0]) examples.push(V.keep(V.tidy(() => V.sub(V.mul(r.image, 2), 1))));
        V.dispose([r.image, r.fHat, ...r.indices, ...r.sourceIndices]);
        bar.increment();
      }
      perImage.set(`${maskName}|${condition}|${m.name}`, merge(perSeed));
      rows.push({ mask: maskName, condition, method: m.name, seeds, msPerImage: sig(ms / (count * seeds.length)), tokensRegenerated, ...summarize(merge(perSeed)) });
    }
  }
  for (const condition of conditions) {
    const x = perImage.get(`${maskName}|${condition}|VIAR`), y = perImage.get(`${maskName}|${condition}|VAR`);
    if (!x || !y) continue;
    // VIAR − VAR on the same images and seeds: mean and standard error of the per-image differences
    const diff = (f: (g: Figures) => number[]) => {
      const st = spread(f(x).map((v, k) => v - f(y)[k]!));
      return { mean: sig(st.mean), se: sig(st.std / Math.sqrt(st.n)), n: st.n };
    };
    const bool = (g: Figures) => g.correct.map((c) => (c ? 1 : 0));
    paired.push({ mask: maskName, condition, maskedMse: diff((g) => g.maskedMse), seam: diff((g) => g.seam), agreement: diff(bool) });
  }
  if (mi === 0) {
    const maskedShow = V.tensor(Float32Array.from(original, (x, k) => (mask[k % (H * W)]! > 0.5 ? 0.5 : x) * 2 - 1), { shape: [count, 1, H, W] });
    examples.unshift(V.keep(V.tidy(() => V.sub(V.mul(recon, 2), 1))));
    examples.unshift(toSigned(), maskedShow); // rows: original, masked, reconstruction, then the models
  }
  maskT.dispose();
}
bar.stop();
const seconds = (performance.now() - t0) / 1000;
// examples: 10 of the images (evenly spaced) as columns; rows original, masked, reconstruction, then each model
const shown = Array.from({ length: Math.min(10, count) }, (_, k) => Math.floor((k * count) / Math.min(10, count)));
const grid = V.tidy(() => V.concat(examples.map((e) => V.concat(shown.map((i) => V.slice(e, [[i, i + 1]])), 0)), 0));
V.savePng(`${outDir}/inpainting-examples.png`, V.imageGrid(grid, { cols: shown.length, scale: 2 }));
grid.dispose();
V.dispose(examples);

const reference = { originalAgreement: sig(originalPred.filter((p, i) => p === labels[i]).length / count), reconstructionAgreement: sig(reconPred.filter((p, i) => p === labels[i]).length / count) };
writeJson(`${outDir}/inpainting.json`, {
  ...info0, experiment: 'zero-shot inpainting on masked MNIST test images: VIAR vs VAR', viarCheckpoint: viarPath, varCheckpoint: varPath === 'none' ? null : varPath,
  images: count, selection: 'evenly spaced over the standard test split (class-balanced)', masks, seeds, conditions,
  sampler: { cfg: SAMPLE_DEFAULTS.cfg, topK: SAMPLE_DEFAULTS.topK, topP: SAMPLE_DEFAULTS.topP, viarSchedule: (loaded[0]!.model as V.VIAR).config.implicit.schedule, threshold: 0.5, keepCoarse: 3 },
  notes: [
    'condition null: the null class (zero-shot, the official notebook\'s setting, where CFG has no effect); true: the image\'s own label.',
    'keepCoarse 3 (the official rule): the 1×1 scale always keeps the source token, so some global information about the masked region survives.',
    'MSE and seam on pixels in [0, 1]; seam > 0 means a sharper jump across the mask edge than the original has.',
    'examples PNG: columns 10 of the images (evenly spaced); rows original, masked (grey), tokenizer reconstruction, then VIAR and VAR (first mask, first condition, first seed).',
  ],
  reference, seconds: sig(seconds), rows,
  paired, pairedNote: 'VIAR − VAR per image (same images, masks and seeds): mean and standard error (std/√n) of the differences; agreement as 0/1 per image',
  examples: `${outDir}/inpainting-examples.png`,
});
const cats = masks.flatMap((mk) => conditions.map((c) => `${mk}, ${c === 'null' ? 'null class' : 'true class'}`));
const pick = (method: string, key: string) => masks.flatMap((mk) => conditions.map((c) => {
  const r = rows.find((x) => x.mask === mk && x.method === method && (x.condition === c || x.condition === null));
  return r ? (r[key] as number) : NaN;
}));
const methods = [...loaded.map((m) => m.name), 'blank fill', 'tokenizer reconstruction (no mask)'];
const bars = (key: string, scale = 1) => methods.map((m) => ({ name: m === 'tokenizer reconstruction (no mask)' ? 'tokenizer recon.' : m, values: pick(m, key).map((v) => v * scale) }));
writeText(`${outDir}/inpainting.svg`, panels([
  barChart(bars('maskedMse'), { title: 'MSE inside the mask (lower is better)', yLabel: 'MSE (pixels in [0, 1])', categories: cats, width: 620 }),
  barChart(bars('agreement', 100), { title: 'classifier agrees with the true label', yLabel: 'agreement (%)', categories: cats, width: 620 }),
], 2));
for (const r of rows) console.log(`${String(r.mask).padEnd(7)} ${String(r.condition ?? '-').padEnd(5)} ${String(r.method).padEnd(36)} masked MSE ${r.maskedMse}, context MSE ${r.contextMse}, seam ${r.seam}, agreement ${r.agreement}`);
console.log(`${seconds.toFixed(0)} s; wrote ${outDir}/inpainting.{json,svg} and inpainting-examples.png`);
for (const m of loaded) m.model.dispose();
vae.dispose();
net.dispose();
