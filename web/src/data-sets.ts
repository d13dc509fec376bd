// The demo's data sets (MNIST, Fashion-MNIST): their checkpoint files, and the manifest the build writes beside them
// so the page knows which it can load. No imports: the page, the worker and web/vite.config.ts all use this file.

/** A data set the demo can switch to. */
export type DemoData = 'mnist' | 'fashion';

/** The data sets in the order the page lists them; the first is the default. */
export const DEMO_DATA_SETS: readonly DemoData[] = ['mnist', 'fashion'];

/** The checkpoint files of one data set, in the repository's checkpoints/ folder. */
export interface DemoCheckpointFiles {
  viar: string;
  tokenizer: string;
  classifier: string;
}

/** What the page shows for each data set, and the files the worker fetches for it. */
export const DEMO_DATA: Record<DemoData, { title: string; files: DemoCheckpointFiles }> = {
  mnist: {
    title: 'MNIST',
    files: { viar: 'viar-mnist.safetensors', tokenizer: 'tokenizer-mnist.safetensors', classifier: 'classifier-mnist.safetensors' },
  },
  fashion: {
    title: 'Fashion-MNIST',
    files: { viar: 'viar-fashion.safetensors', tokenizer: 'tokenizer-fashion.safetensors', classifier: 'classifier-fashion.safetensors' },
  },
};

/** Every checkpoint file the demo may fetch (the build copies those that exist). */
export const DEMO_CHECKPOINT_FILES: readonly string[] = DEMO_DATA_SETS.flatMap((d) => Object.values(DEMO_DATA[d].files));

/** Name of the manifest served beside the checkpoints (checkpoints/demo-data.json). */
export const DEMO_MANIFEST_FILE = 'demo-data.json';

/** Whether a data set can be loaded, and if not, why (one short line for the page). */
export interface DataAvailability {
  available: boolean;
  reason: string | null;
}

/** The manifest: the availability of every data set. */
export type DemoManifest = Record<DemoData, DataAvailability>;

/** The manifest for the checkpoint files `exists` reports: a data set is available when all three of its files are. */
export function demoManifest(exists: (file: string) => boolean): DemoManifest {
  const entry = (d: DemoData): DataAvailability => {
    const missing = Object.values(DEMO_DATA[d].files).filter((f) => !exists(f));
    return missing.length === 0
      ? { available: true, reason: null }
      : { available: false, reason: `no ${missing.join(', ')} in checkpoints/ (not trained yet)` };
  };
  return Object.fromEntries(DEMO_DATA_SETS.map((d) => [d, entry(d)])) as DemoManifest;
}

/**
 * Reads a manifest fetched from the server. Data sets it does not describe (an older or missing manifest) are taken
 * to be available: loading them then fails with the worker's own message, naming the file.
 */
export function parseDemoManifest(json: unknown): DemoManifest {
  const raw = (typeof json === 'object' && json !== null ? json : {}) as Partial<Record<string, { available?: unknown; reason?: unknown }>>;
  const entry = (d: DemoData): DataAvailability => {
    const e = raw[d];
    if (!e || typeof e.available !== 'boolean') return { available: true, reason: null };
    return { available: e.available, reason: e.available ? null : typeof e.reason === 'string' ? e.reason : 'its checkpoints are not served' };
  };
  return Object.fromEntries(DEMO_DATA_SETS.map((d) => [d, entry(d)])) as DemoManifest;
}

/** The data set named by the page's ?data= parameter ('fashion'); anything else is the default, MNIST. */
export function parseDemoData(value: string | null | undefined): DemoData {
  return (DEMO_DATA_SETS as readonly string[]).includes(value ?? '') ? (value as DemoData) : DEMO_DATA_SETS[0]!;
}
