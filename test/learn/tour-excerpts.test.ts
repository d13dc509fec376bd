// The guided tour cannot rot: every TypeScript block in docs/learn/*.md carries a <!-- from: path[#region] -->
// tag and must appear verbatim in that file (a `// …` line skips source lines), every relative link must point at
// a file, and every <!-- exercise: path :: text --> must name a test that exists.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

const repoRoot = join(import.meta.dirname, '../..');
const tourDir = join(repoRoot, 'docs/learn');
const chapters = readdirSync(tourDir).filter((f) => f.endsWith('.md')).sort();

interface Block {
  chapter: string;
  line: number;
  lang: string;
  tag: string | null;
  code: string[];
}

function blocksOf(chapter: string): Block[] {
  const lines = readFileSync(join(tourDir, chapter), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`${chapter}:${i + 1}: code block never closed`);
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const tag = k >= 0 ? /^<!-- from: (\S+) -->$/.exec(lines[k]!.trim())?.[1] ?? null : null;
    blocks.push({ chapter, line: i + 1, lang: open[1]!, tag, code: lines.slice(i + 1, end) });
    i = end;
  }
  return blocks;
}

function dedent(lines: readonly string[]): string[] {
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(Number.isFinite(indent) ? indent : 0));
}

/** The lines of `path`, or of its `// #region name` … `// #endregion name` part, dedented. */
function sourceOf(tag: string): { lines: string[]; whole: boolean } {
  const [path, region] = tag.split('#') as [string, string | undefined];
  const file = join(repoRoot, path);
  expect(existsSync(file), `${path} exists`).toBe(true);
  const lines = readFileSync(file, 'utf8').split('\n');
  if (!region) return { lines, whole: false };
  const start = lines.findIndex((l) => l.trim() === `// #region ${region}`);
  const end = lines.findIndex((l) => l.trim() === `// #endregion ${region}`);
  expect(start >= 0 && end > start, `${path} has a region '${region}'`).toBe(true);
  return { lines: dedent(lines.slice(start + 1, end)), whole: true };
}

/** Index of the first occurrence of `chunk` in `source` at or after `from`, allowing one uniform extra indent. */
function findChunk(source: readonly string[], chunk: readonly string[], from: number): number {
  for (let i = from; i + chunk.length <= source.length; i++) {
    const first = source[i]!;
    if (!first.endsWith(chunk[0]!)) continue;
    const pad = first.slice(0, first.length - chunk[0]!.length);
    if (pad.trim() !== '') continue;
    if (chunk.every((c, j) => (c === '' ? source[i + j]!.trim() === '' : source[i + j] === pad + c))) return i;
  }
  return -1;
}

describe('docs/learn', () => {
  test('has chapters', () => {
    expect(chapters.length).toBeGreaterThanOrEqual(7);
  });

  for (const chapter of chapters) {
    const blocks = blocksOf(chapter);

    test(`${chapter}: every TypeScript excerpt is verbatim from the file its tag names`, () => {
      for (const b of blocks.filter((x) => x.lang === 'ts')) {
        const where = `${b.chapter}:${b.line}`;
        expect(b.tag, `${where}: a ts block needs a <!-- from: path[#region] --> line above it`).not.toBeNull();
        const { lines, whole } = sourceOf(b.tag!);
        const chunks: string[][] = [[]];
        for (const l of b.code) {
          if (l.trim() === '// …') chunks.push([]);
          else chunks.at(-1)!.push(l);
        }
        if (whole && chunks.length === 1) {
          expect(b.code, `${where}: region ${b.tag} shown whole`).toEqual(lines);
          continue;
        }
        let at = 0;
        for (const chunk of chunks.filter((c) => c.length)) {
          const found = findChunk(lines, chunk, at);
          expect(found, `${where}: these lines are not (in this order) in ${b.tag}:\n${chunk.join('\n')}`).toBeGreaterThanOrEqual(0);
          at = found + chunk.length;
        }
      }
    });

    test(`${chapter}: relative links point at files, exercises at tests`, () => {
      const text = readFileSync(join(tourDir, chapter), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        expect(existsSync(resolve(dirname(join(tourDir, chapter)), target!)), `${chapter}: link ${target}`).toBe(true);
      }
      for (const [, path, title] of text.matchAll(/<!-- exercise: (\S+) :: (.+?) -->/g)) {
        expect(readFileSync(join(repoRoot, path!), 'utf8'), `${chapter}: exercise test '${title}' in ${path}`).toContain(title);
      }
    });
  }
});
