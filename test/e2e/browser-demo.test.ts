// End-to-end test of the browser demo (web/) in a real Chromium driven by playwright-core: builds the page with Vite
// (failing on any Node built-in in the bundle), serves it on localhost, generates an image (canvas not blank, the
// shipped LeNet in the page reads the requested class), moves a schedule slider (iterations and time change), draws a
// mask and inpaints, edits towards another class; the data switch (MNIST by default; Fashion-MNIST listed as
// unavailable without its checkpoints, else loaded with its class names). Screenshots go to out/browser-demo/ (CI
// artifacts); with VIAR_UPDATE_SCREENSHOTS=1 the README's copies in docs/images/ are refreshed. Skipped without
// Chromium, unless VIAR_REQUIRE_BROWSER=1 (set by .ci/run), which makes a missing browser a failure.

import { afterAll, describe, expect, test } from 'vitest';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Page } from 'playwright-core';

const repo = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.VIAR_CHROMIUM ?? '/usr/bin/chromium';
const requireBrowser = process.env.VIAR_REQUIRE_BROWSER === '1';
const haveChromium = existsSync(CHROMIUM);
/** Whether the Fashion-MNIST generator is shipped (the build copies it and the page's switch offers it). */
const haveFashion = ['viar', 'tokenizer', 'classifier'].every((m) => existsSync(join(repo, 'checkpoints', `${m}-fashion.safetensors`)));
const shots = join(repo, 'out', 'browser-demo');
/** Screenshots copied into docs/images/ for the README when VIAR_UPDATE_SCREENSHOTS=1. */
const DOC_SHOTS: Record<string, string> = { '1-generated.png': 'demo-generate.png', '5-edited.png': 'demo-edit.png' };
/** Chromium flags for a clean headless run here (playwright-core gives every launch a fresh, empty --user-data-dir). */
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic',
];
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml',
};

/** A static file server for `root` on a random localhost port. */
async function serve(root: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)).replace(/^[/\\]+/, '') || 'index.html';
    if (path.startsWith('..')) { res.writeHead(403).end(); return; }
    readFile(join(root, path)).then(
      (body) => res.writeHead(200, { 'Content-Type': MIME[extname(path)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** Grey values (0..255) of a canvas of the page. */
const canvasPixels = (page: Page, selector: string) => page.$eval(selector, (c) => {
  const canvas = c as HTMLCanvasElement;
  const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
  return Array.from({ length: data.length / 4 }, (_, i) => data[4 * i]!);
});

/** Alpha of the mask overlay (> 0 where the user drew). */
const maskPixels = (page: Page) => page.$eval('#mask', (c) => {
  const canvas = c as HTMLCanvasElement;
  const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
  return Array.from({ length: data.length / 4 }, (_, i) => data[4 * i + 3]!);
});

interface PageResult { id: string; kind: string; label: number; predicted: number; confidence: number; ms: number; iterations: number[]; residuals: number[][]; tokens: string; seed: number }

async function readResult(page: Page): Promise<PageResult> {
  const d = await page.$eval('#result', (el) => ({ ...(el as HTMLElement).dataset }));
  return {
    id: d.id!, kind: d.kind!, label: Number(d.label), predicted: Number(d.predicted), confidence: Number(d.confidence), ms: Number(d.ms),
    iterations: JSON.parse(d.iterations!) as number[], residuals: JSON.parse(d.residuals!) as number[][], tokens: d.tokens ?? '', seed: Number(d.seed),
  };
}

/** Clicks `button` and waits until the page shows the result of that request. */
async function runRequest(page: Page, button: string): Promise<PageResult> {
  const before = await page.$eval('#result', (el) => (el as HTMLElement).dataset.id ?? '');
  await page.click(button);
  await page.waitForFunction((prev) => {
    const id = (document.getElementById('result') as HTMLElement).dataset.id ?? '';
    return (id !== prev && document.body.dataset.state === 'ready') || document.body.dataset.state === 'error';
  }, before, { timeout: 60_000 });
  const state = await page.$eval('body', (b) => (b as HTMLElement).dataset.state);
  if (state === 'error') throw new Error(`the page reports: ${await page.textContent('#status')}`);
  return readResult(page);
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shots, name), fullPage: true });
}

/** The built page served on localhost and a Chromium tab showing it, once its models are loaded. */
interface DemoSession {
  dist: string;
  buildLog: string;
  page: Page;
  pageErrors: string[];
}

/**
 * Builds the page into a temporary folder (the Vite CLI in a child process, NODE_ENV=production: vitest's
 * NODE_ENV=test would change the build), serves it, opens it in Chromium and waits for the models.
 */
async function startDemo(cleanup: (() => Promise<void>)[], opts: { query?: string; args?: string[] } = {}): Promise<DemoSession> {
  if (!haveChromium) throw new Error(`VIAR_REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM} (apt-get install chromium, or set VIAR_CHROMIUM)`);
  const dist = mkdtempSync(join(tmpdir(), 'viar-web-'));
  cleanup.push(async () => rmSync(dist, { recursive: true, force: true }));
  mkdirSync(shots, { recursive: true });
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [
    join(repo, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(repo, 'web/vite.config.ts'), '--outDir', dist, '--emptyOutDir',
  ], { cwd: repo, env: { ...process.env, NODE_ENV: 'production' }, maxBuffer: 16 << 20 });
  const { server, url } = await serve(dist);
  cleanup.push(() => new Promise((ok) => server.close(() => ok())));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: opts.args ?? CHROMIUM_ARGS, timeout: 60_000 });
  cleanup.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 960 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(`page error: ${err.message}`));
  page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`); });
  await page.goto(url + (opts.query ?? ''));
  await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 150_000 });
  return { dist, buildLog: stdout + stderr, page, pageErrors };
}

describe.skipIf(!haveChromium && !requireBrowser)('browser demo in Chromium', () => {
  // started by the first test that needs it (not in beforeAll, whose failure would mark the tests skipped, not failed)
  const cleanup: (() => Promise<void>)[] = [];
  let session: Promise<DemoSession> | null = null;
  const demo = () => (session ??= startDemo(cleanup));

  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
    if (process.env.VIAR_UPDATE_SCREENSHOTS === '1') {
      mkdirSync(join(repo, 'docs/images'), { recursive: true });
      for (const [shot, doc] of Object.entries(DOC_SHOTS)) if (existsSync(join(shots, shot))) copyFileSync(join(shots, shot), join(repo, 'docs/images', doc));
    }
  });

  test('the page builds without Node built-ins, ships the checkpoints, loads them and names its backend', async () => {
    const { buildLog, dist, page } = await demo();
    expect(buildLog).not.toMatch(/externalized for browser compatibility|error/i);
    for (const f of ['viar-mnist', 'tokenizer-mnist', 'classifier-mnist']) expect(existsSync(join(dist, 'checkpoints', `${f}.safetensors`))).toBe(true);
    expect(await page.$eval('body', (b) => (b as HTMLElement).dataset.state), await page.textContent('#status') ?? '').toBe('ready');
    const backend = await page.textContent('#backend');
    expect(backend).toMatch(/cpu/);
    expect(backend).toMatch(/wasm-simd128|typescript reference/);
    expect(backend).toMatch(/Web Worker/);
    expect(await page.textContent('#model-info')).toMatch(/1 implicit/);
    // the data switch: MNIST loaded; Fashion-MNIST offered only when its checkpoints were shipped into the build
    expect(await page.inputValue('#data')).toBe('mnist');
    expect(existsSync(join(dist, 'checkpoints', 'demo-data.json'))).toBe(true);
    expect(existsSync(join(dist, 'checkpoints', 'viar-fashion.safetensors'))).toBe(haveFashion);
    expect(await page.$eval('#data option[value="fashion"]', (o) => (o as HTMLOptionElement).disabled)).toBe(!haveFashion);
    if (!haveFashion) expect(await page.textContent('#data-note')).toMatch(/Fashion-MNIST is unavailable: .*viar-fashion\.safetensors/);
  }, 240_000);

  test('generates the requested class: the canvas is not blank and the page’s LeNet reads that class', async () => {
    const { page } = await demo();
    await page.selectOption('#class', '3');
    await page.fill('#seed', '1');
    const r = await runRequest(page, '#generate');
    await screenshot(page, '1-generated.png');
    expect(r.kind).toBe('generate');
    expect(r.label).toBe(3);
    expect(r.predicted, `LeNet reads ${r.predicted} (${r.confidence}) for requested class 3`).toBe(3);
    const grey = await canvasPixels(page, '#image');
    expect(grey).toHaveLength(32 * 32);
    const mean = grey.reduce((a, v) => a + v, 0) / grey.length;
    const std = Math.sqrt(grey.reduce((a, v) => a + (v - mean) ** 2, 0) / grey.length);
    expect(std).toBeGreaterThan(30); // a white digit on black, not a flat canvas
    expect(grey.filter((v) => v > 200).length).toBeGreaterThan(20);
    expect(r.iterations).toEqual([4, 4, 4, 4, 4, 4]); // the checkpoint's schedule
    expect(r.residuals.map((t) => t.length)).toEqual(r.iterations);
    expect(r.ms).toBeGreaterThan(0);
    // every scale's preview was painted
    for (let s = 0; s < 6; s++) {
      const thumb = await canvasPixels(page, `#scales figure:nth-child(${s + 1}) canvas`);
      expect(Math.max(...thumb)).toBeGreaterThan(0);
    }
    expect(await page.$$eval('#residual-plot polyline', (lines) => lines.length)).toBe(6);
  }, 120_000);

  test('moving a schedule slider changes the iterations and the time; another class is read as such', async () => {
    const { page } = await demo();
    const first = await readResult(page);
    await page.focus('#iters-5');
    await page.keyboard.press('End'); // the 8×8 slider to its maximum
    expect(await page.inputValue('#iters-5')).toBe('16');
    const moved = await runRequest(page, '#generate');
    expect(moved.iterations).toEqual([4, 4, 4, 4, 4, 16]);
    expect(moved.residuals.at(-1)).toHaveLength(16);
    expect(moved.ms).not.toBe(first.ms);
    // every slider to its maximum against the "1 each" preset: 96 implicit iterations against 6 must take longer
    for (let s = 0; s < 5; s++) { await page.focus(`#iters-${s}`); await page.keyboard.press('End'); }
    const most = await runRequest(page, '#generate');
    expect(most.iterations).toEqual([16, 16, 16, 16, 16, 16]);
    await page.click('[data-preset="1"]');
    const fewest = await runRequest(page, '#generate');
    await screenshot(page, '2-schedule.png');
    expect(fewest.iterations).toEqual([1, 1, 1, 1, 1, 1]);
    expect(fewest.ms).toBeLessThan(most.ms);
    // a second class, at the checkpoint's schedule (seed 1 gives a clear 7: LeNet's softmax 0.996 here)
    await page.click('[data-preset="default"]');
    await page.selectOption('#class', '7');
    const seven = await runRequest(page, '#generate');
    expect(seven.label).toBe(7);
    expect(seven.predicted, `LeNet reads ${seven.predicted} (${seven.confidence}) for requested class 7`).toBe(7);
    console.log(`browser demo, ms per image: ${first.ms.toFixed(0)} at [4 each], ${moved.ms.toFixed(0)} at [4,4,4,4,4,16], ` +
      `${most.ms.toFixed(0)} at [16 each], ${fewest.ms.toFixed(0)} at [1 each], ${seven.ms.toFixed(0)} for a 7 at [4 each]`);
  }, 120_000);

  test('drawing a mask and inpainting regenerates the region; editing towards another class', async () => {
    const { page, pageErrors } = await demo();
    await page.click('[data-preset="default"]');
    await page.selectOption('#class', '3');
    await page.fill('#seed', '1');
    await runRequest(page, '#generate');
    const source = await canvasPixels(page, '#image');
    // three strokes across the middle of the image
    const box = (await page.locator('#mask').boundingBox())!;
    for (const fy of [0.4, 0.5, 0.6]) {
      await page.mouse.move(box.x + 0.28 * box.width, box.y + fy * box.height);
      await page.mouse.down();
      for (let k = 1; k <= 8; k++) await page.mouse.move(box.x + (0.28 + 0.06 * k) * box.width, box.y + fy * box.height);
      await page.mouse.up();
    }
    const mask = (await maskPixels(page)).map((a) => (a > 0 ? 1 : 0));
    const masked = mask.reduce((a: number, m) => a + m, 0);
    expect(masked).toBeGreaterThan(60);
    expect(masked).toBeLessThan(400);
    await screenshot(page, '3-mask.png');
    expect(await page.isEnabled('#inpaint')).toBe(true);
    const r = await runRequest(page, '#inpaint');
    await page.uncheck('#show-mask'); // the result without the overlay (the "before" thumbnail shows the region)
    await screenshot(page, '4-inpainted.png');
    await page.check('#show-mask');
    expect(r.kind).toBe('inpaint');
    expect(r.label).toBe(3);
    expect(r.seed).toBe(2);
    const regenerated = r.tokens.split(', ').map((s) => Number(/: (\d+)\//.exec(s)![1]));
    expect(regenerated).toHaveLength(6);
    expect(regenerated[0]).toBe(0); // the 1×1 scale always keeps the source's token (keepCoarse 3)
    expect(regenerated.at(-1)).toBeGreaterThan(0);
    const after = await canvasPixels(page, '#image');
    const diff = (keep: (m: number) => boolean) => {
      const idx = mask.map((m, i) => (keep(m) ? i : -1)).filter((i) => i >= 0);
      return idx.reduce((a, i) => a + Math.abs(after[i]! - source[i]!), 0) / idx.length;
    };
    expect(diff((m) => m === 1)).toBeGreaterThan(diff((m) => m === 0)); // the region changed more than the rest
    expect(diff((m) => m === 1)).toBeGreaterThan(2);

    await page.click('#clear-mask');
    expect(await page.isEnabled('#edit')).toBe(false);
    await page.click('#mask-center');
    await page.selectOption('#edit-class', '8');
    const e = await runRequest(page, '#edit');
    await page.uncheck('#show-mask');
    await screenshot(page, '5-edited.png');
    expect(e.kind).toBe('edit');
    expect(e.label).toBe(8);
    expect(e.iterations).toEqual([4, 4, 4, 4, 4, 4]);
    expect(e.seed).toBe(3);
    expect(await page.isVisible('#before')).toBe(true);
    console.log(`browser demo: inpaint ${r.ms.toFixed(0)} ms (LeNet reads ${r.predicted}), edit 3 → 8 ${e.ms.toFixed(0)} ms (LeNet reads ${e.predicted})`);
    expect(pageErrors).toEqual([]);
  }, 120_000);

  test.skipIf(!haveFashion)('the data switch loads Fashion-MNIST: class names in the menus and the reading; back to MNIST', async () => {
    const { page, pageErrors } = await demo();
    await page.selectOption('#data', 'fashion');
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 150_000 });
    expect(await page.textContent('#status')).toMatch(/ready \(Fashion-MNIST\)/);
    expect(page.url()).toMatch(/[?&]data=fashion/);
    expect(await page.textContent('#model-info')).toMatch(/^Fashion-MNIST/);
    expect(await page.$$eval('#class option', (os) => os.map((o) => o.textContent))).toEqual(
      ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    await page.selectOption('#class', '1');
    await page.fill('#seed', '1');
    const r = await runRequest(page, '#generate');
    await screenshot(page, '7-fashion-generated.png');
    expect(r.label).toBe(1);
    expect(await page.textContent('#classifier')).toMatch(/^(T-shirt\/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot) \(/);
    console.log(`browser demo, Fashion-MNIST: a Trouser in ${r.ms.toFixed(0)} ms at [${r.iterations.join(',')}], LeNet reads ${r.predicted} (${r.confidence})`);
    await page.selectOption('#data', 'mnist');
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', null, { timeout: 150_000 });
    expect(await page.textContent('#status')).toMatch(/ready \(MNIST\)/);
    expect(await page.$$eval('#class option', (os) => os.map((o) => o.textContent))).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(pageErrors).toEqual([]);
  }, 300_000);
});

/**
 * The gpu backend in the browser: Chromium's WebGPU on its software adapter (SwiftShader, so it runs on any CI
 * machine; `?backend=gpu` takes a software adapter too, which the default 'auto' would not).
 */
describe.skipIf(!haveChromium && !requireBrowser)('browser demo on WebGPU (gpu.js backend, SwiftShader adapter)', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => { for (const step of cleanup.reverse()) await step(); });

  test('?backend=gpu runs the model through gpu.js on WebGPU and generates the requested class', async () => {
    const args = [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu'];
    const { page, pageErrors } = await startDemo(cleanup, { query: '?backend=gpu', args });
    expect(await page.$eval('body', (b) => (b as HTMLElement).dataset.state), await page.textContent('#status') ?? '').toBe('ready');
    const backend = await page.textContent('#backend');
    expect(backend, backend ?? '').toMatch(/gpu/);
    expect(backend).toMatch(/webgpu/);
    await page.selectOption('#class', '3');
    await page.fill('#seed', '1');
    const r = await runRequest(page, '#generate');
    await screenshot(page, '6-webgpu-generated.png');
    expect(r.predicted, `LeNet reads ${r.predicted} (${r.confidence}) for requested class 3 on WebGPU`).toBe(3);
    expect(r.iterations).toEqual([4, 4, 4, 4, 4, 4]);
    const grey = await canvasPixels(page, '#image');
    expect(grey.filter((v) => v > 200).length).toBeGreaterThan(20);
    expect(pageErrors).toEqual([]);
  }, 300_000);
});
