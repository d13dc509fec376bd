// The main job's report: the summary it measures (written as summary.json) and the self-contained index.html that
// shows the pictures with their numbers.

import type { IterationSchedule } from '../index.js';
import type { DataName } from './transformer-commands.js';

/** One row of schedules.png. */
export interface ScheduleRow {
  label: string;
  schedule: IterationSchedule;
  /** The schedule resolved to one count per scale. */
  perScale: number[];
  /** Iterations the sampler reports it ran per scale. */
  iterations: number[];
  msPerImage: number;
  /** Fraction of the row's images the classifier assigns to the requested class (null without a classifier). */
  agreement: number | null;
}

/** What the main job measured; also written to <out>/summary.json. */
export interface MainJobSummary {
  date: string;
  command: string;
  data: DataName;
  /** The data set's name of each class, indexed by label ('0' … '9' for MNIST, 'T-shirt/top' … 'Ankle boot' for Fashion-MNIST). */
  classNames: string[];
  out: string;
  model: { path: string; parameters: number; trainedSteps: number | null; description: string; numScales: number; patchNums: number[] };
  tokenizer: string;
  classifier: string | null;
  threads: number;
  kernels: string;
  sampler: { cfg: number; topK: number; topP: number; seed: number };
  samples: {
    file: string; classes: number; perClass: number; images: number; seconds: number; msPerImage: number;
    schedule: string; iterationsPerScale: number[]; agreement: number | null; perClassAgreement: number[] | null;
  };
  schedules: { file: string; columns: number; seed: number; rowHeight: number; width: number; rows: ScheduleRow[] };
  inpaint: { file: string; mask: string; testIndices: number[]; labels: number[]; seeds: number[]; msPerImage: number; tokensRegenerated: string; agreement: number | null };
  edit: { file: string; mask: string; testIndices: number[]; sourceLabels: number[]; toClasses: number[]; cfg: number; msPerImage: number; agreement: number | null };
  memory: {
    /** The process's peak resident set size as the OS reports it (process.resourceUsage().maxRSS). */
    peakRssMiB: number;
    /** The largest process.memoryUsage().rss seen at the progress ticks. */
    sampledPeakRssMiB: number;
    /** The engine's live buffers (memory().numBytes / numDataBuffers), largest seen at the progress ticks. */
    enginePeakMiB: number;
    enginePeakBuffers: number;
    /** The CPU backend's WebAssembly heap arena (float32 tensor buffers, pooled by exact size, never handed back). */
    engineHeapArenaMiB: number;
    /** Live tensors once the models are disposed (0 = nothing leaked). */
    engineLiveTensorsAtEnd: number;
  };
  seconds: { total: number; loading: number; samples: number; schedules: number; inpaint: number; edit: number };
  files: string[];
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** A fraction as a percentage with one decimal, or — when not measured. */
export const pct = (x: number | null) => (x === null ? '—' : `${(100 * x).toFixed(1)} %`);

/** Whether the class names are the labels themselves (MNIST's digits), so the report needs no legend. */
const namesAreLabels = (names: readonly string[]) => names.every((n, c) => n === String(c));

/** The self-contained report: relative image links, a table of numbers, a short explanation per picture. */
export function renderIndex(s: MainJobSummary): string {
  const m = s.model;
  const names = s.classNames;
  const plain = namesAreLabels(names);
  /** A class as the report names it: the digit for MNIST, the label's name for Fashion-MNIST. */
  const cls = (c: number) => esc(names[c] ?? String(c));
  const classList = (cs: readonly number[]) => cs.map(cls).join(', ');
  const legend = plain ? '' : `<p class="note">Classes: ${names.map((n, c) => `${c} ${esc(n)}`).join(', ')}.</p>\n`;
  const rowsHtml = s.schedules.rows.map((r, k) => `<tr><td>${esc(r.label)}</td><td>[${r.perScale.join(', ')}]</td>` +
    `<td><div class="strip" style="width:${s.schedules.width}px;height:${s.schedules.rowHeight + 2}px;background-position:0 -${k * s.schedules.rowHeight}px"></div></td>` +
    `<td class="num">${r.msPerImage}</td><td class="num">${pct(r.agreement)}</td></tr>`).join('\n');
  const perClass = s.samples.perClassAgreement ? s.samples.perClassAgreement.map((a, c) => `${cls(c)}: ${(100 * a).toFixed(0)} %`).join(', ') : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>viar main job: VIAR on ${esc(s.data)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
img, .strip { image-rendering: pixelated; }
img { border: 1px solid #ccc; }
.strip { background-image: url("schedules.png"); background-repeat: no-repeat; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: middle; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
code { background: #f4f4f4; padding: 0 3px; }
.note { color: #555; font-size: 0.92em; }
</style>
</head>
<body>
<h1>VIAR on ${s.data === 'mnist' ? 'MNIST' : 'Fashion-MNIST'}: the main job</h1>
<p class="note">Written by <code>${esc(s.command)}</code> on ${esc(s.date)} — ${esc(s.kernels)}; ${s.seconds.total} s in all.
Model <code>${esc(m.path)}</code> (${m.parameters.toLocaleString('en-US')} parameters${m.trainedSteps !== null ? `, ${m.trainedSteps} training steps` : ''}; ${esc(m.description)}),
tokenizer <code>${esc(s.tokenizer)}</code>, classifier ${s.classifier ? `<code>${esc(s.classifier)}</code>` : 'none (agreement not measured)'}.
Sampler: cfg ${s.sampler.cfg}, top-k ${s.sampler.topK}, top-p ${s.sampler.topP}, base seed ${s.sampler.seed}.</p>

<h2>Numbers</h2>
<table>
<tr><th>what</th><th>value</th></tr>
<tr><td>time per image (class-conditional samples, decoding included)</td><td class="num">${s.samples.msPerImage} ms</td></tr>
<tr><td>implicit iterations per scale (scales ${m.patchNums.map((p) => `${p}×${p}`).join(', ')})</td><td class="num">[${s.samples.iterationsPerScale.join(', ')}] (schedule ${esc(s.samples.schedule)})</td></tr>
<tr><td>classifier agrees with the requested class (${s.samples.images} samples)</td><td class="num">${pct(s.samples.agreement)}</td></tr>
<tr><td>peak memory: resident set size (OS peak)</td><td class="num">${s.memory.peakRssMiB} MiB</td></tr>
<tr><td>peak memory: engine buffers (largest seen between steps)</td><td class="num">${s.memory.enginePeakMiB} MiB in ${s.memory.enginePeakBuffers} buffers</td></tr>
<tr><td>engine WebAssembly heap arena (float32 tensor buffers, pooled by size and never handed back: the high-water mark)</td><td class="num">${s.memory.engineHeapArenaMiB} MiB</td></tr>
<tr><td>live tensors after disposing the models</td><td class="num">${s.memory.engineLiveTensorsAtEnd}</td></tr>
<tr><td>wall time: loading / samples / schedules / inpaint / edit / total</td><td class="num">${s.seconds.loading} / ${s.seconds.samples} / ${s.seconds.schedules} / ${s.seconds.inpaint} / ${s.seconds.edit} / ${s.seconds.total} s</td></tr>
<tr><td>threads</td><td class="num">${s.threads}</td></tr>
</table>

<h2>Class-conditional samples</h2>
${legend}<p>One row per class (${cls(0)} at the top), ${s.samples.perClass} samples each; class <i>c</i> is drawn with seed ${s.sampler.seed}·1000 + <i>c</i>.
VIAR generates the 1×1 token map first and each larger map (${m.patchNums.join(', ')}) from all the coarser ones, running its implicit block the scheduled number of times per scale.</p>
<p><img src="${esc(s.samples.file)}" alt="class-conditional samples, one row per class"></p>
${perClass ? `<p class="note">Classifier agreement per class: ${perClass}.</p>` : ''}

<h2>The iteration knob</h2>
<p>The same labels (${s.schedules.columns} columns, class ${cls(0)} to ${cls(s.schedules.columns - 1)}) and the same seed (${s.schedules.seed}) in every row, so a column changes only through the
number of implicit iterations per scale. A schedule LEFT/RIGHT runs floor(linspace(LEFT, RIGHT, 10)) iterations at the first scales, as the official
sampler (so 8/1 over ${m.numScales} scales is [${s.schedules.rows.find((r) => r.label === '8/1')?.perScale.join(', ') ?? '…'}]). More iterations cost time and bring the implicit
block closer to its fixed point; the time per image below shows the cost of the knob (measured after one untimed warm-up call).</p>
<table>
<tr><th>schedule</th><th>iterations per scale</th><th>samples (same seed)</th><th>ms / image</th><th>classifier agreement</th></tr>
${rowsHtml}
</table>
<p class="note">The whole grid: <a href="${esc(s.schedules.file)}">${esc(s.schedules.file)}</a>. Agreement per row is measured on ${s.schedules.columns} images only.</p>

<h2>Inpainting</h2>
<p>Test images (indices ${s.inpaint.testIndices.join(', ')}, classes ${classList(s.inpaint.labels)}), one per row: the source, the source with the
'${esc(s.inpaint.mask)}' region greyed out, then that region regenerated with seeds ${s.inpaint.seeds.join(', ')}. Zero-shot, as VAR: the source is
tokenized and at every scale the tokens outside the mask are re-imposed; only masked tokens are sampled, conditioned on the image's own class.
Tokens regenerated per scale and image: ${esc(s.inpaint.tokensRegenerated)}. ${s.inpaint.msPerImage} ms per image${s.inpaint.agreement !== null ? `; the classifier still reads the source class in ${pct(s.inpaint.agreement)}` : ''}.</p>
<p><img src="${esc(s.inpaint.file)}" alt="inpainting: source, masked, three inpaintings"></p>

<h2>Class editing</h2>
<p>Test images (indices ${s.edit.testIndices.join(', ')}, classes ${classList(s.edit.sourceLabels)}), one per row: the source, the masked source, then the
'${esc(s.edit.mask)}' region regenerated conditioned on class ${plain ? `0, 1, …, ${s.edit.toClasses.length - 1}` : classList(s.edit.toClasses)} (cfg ${s.edit.cfg}); the border stays the source's.
${s.edit.msPerImage} ms per image${s.edit.agreement !== null ? `; the classifier reads the requested class in ${pct(s.edit.agreement)} of the edits` : ''}.</p>
<p><img src="${esc(s.edit.file)}" alt="class editing: source, masked, the region regenerated towards each class"></p>

<p class="note">All numbers are in <a href="summary.json">summary.json</a>. Peak memory: the OS's peak resident set size of the process (Node, the
data set, the WebAssembly heap that holds the tensors) and the engine's own counters (<code>memory()</code>), sampled between sampler calls.</p>
</body>
</html>
`;
}
