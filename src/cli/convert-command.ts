// `viar convert in.pth out.safetensors`: a PyTorch state dict (the official var_d16.pth … and
// vae_ch160v4096z32.pth) read by the restricted unpickler and written as safetensors under the same keys.

import { basename } from 'node:path';
import { loadPth, saveSafetensors } from '../index.js';
import { CliError, checkInputFile, flag, parseOptions, prepareOutputFile } from './options.js';

export const CONVERT_HELP = `  convert <in.pth> <out.safetensors>   a PyTorch state dict (.pth/.pt, zip or legacy format) → safetensors, same keys;
                  float16/bfloat16 are written as float32, int64 as int32; nothing in the .pth is executed`;

export interface ConvertSummary {
  tensors: number;
  /** Elements over all tensors. */
  elements: number;
  /** Tensors per stored element type in the .pth. */
  storedDtypes: Record<string, number>;
  /** Non-tensor entries left out. */
  skipped: string[];
  format: 'zip' | 'legacy';
}

/** Converts `input` (.pth) to `output` (.safetensors), recording the source file name in the metadata. */
export function convertCheckpoint(input: string, output: string): ConvertSummary {
  const { tensors, skipped, format, storedDtypes } = loadPth(input);
  try {
    saveSafetensors(output, tensors, { converted_from: basename(input), pth_format: format, stored_dtypes: JSON.stringify(storedDtypes) });
    let elements = 0;
    for (const t of tensors.values()) elements += t.size;
    return { tensors: tensors.size, elements, storedDtypes, skipped, format };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

const LABEL = 'viar convert';

export function convertCommand(argv: string[]): void {
  // the two file names are positional; everything that looks like an option goes through the shared parser
  const positionals = argv.filter((x) => !x.startsWith('-'));
  const options = parseOptions(LABEL, argv.filter((x) => x.startsWith('-')), { help: flag });
  if (options.help) return console.log(`viar —\n${CONVERT_HELP}`);
  if (positionals.length !== 2) throw new CliError(`${LABEL}: needs <in.pth> <out.safetensors>, got ${positionals.length} argument(s); see ${LABEL} --help`);
  const [input, output] = positionals as [string, string];
  checkInputFile(LABEL, 'PyTorch checkpoint', input);
  if (!/\.safetensors$/i.test(output)) throw new CliError(`${LABEL}: the output must end in .safetensors, got '${output}'`);
  prepareOutputFile(LABEL, '<out.safetensors>', output);
  const s = convertCheckpoint(input, output);
  const dtypes = Object.entries(s.storedDtypes).map(([d, n]) => `${n} ${d}`).join(', ');
  console.log(`${output}: ${s.tensors} tensors, ${s.elements.toLocaleString('en-US')} elements from ${input} (${s.format} format; stored as ${dtypes || 'nothing'})` +
    (s.skipped.length ? `; left out non-tensor entries ${s.skipped.join(', ')}` : ''));
}
