// Runs a fast-check property the way a CI wants it: a seed that is printed on failure and replayable from the
// environment (VIAR_SEED, VIAR_PATH), a readable counterexample, and an Error a test runner (vitest, node:test) shows.

import fc from 'fast-check';

export interface RunPropertyOptions {
  /** Seed of the run. Default: VIAR_SEED from the environment, else a fresh random seed (printed on failure). */
  seed?: number;
  /** Number of generated cases (default fast-check's 100, or VIAR_NUM_RUNS). */
  numRuns?: number;
  /** Replay one shrunk counterexample: the path printed on failure (default VIAR_PATH from the environment). */
  path?: string;
  /** Passed through to fast-check (timeouts, examples, ...). */
  parameters?: fc.Parameters<unknown>;
}

function env(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

function settings(opts: RunPropertyOptions): fc.Parameters<unknown> {
  const seedEnv = env('VIAR_SEED'), pathEnv = env('VIAR_PATH'), runsEnv = env('VIAR_NUM_RUNS');
  const seed = seedEnv !== undefined ? Number(seedEnv) : opts.seed ?? Math.floor(Math.random() * 0x7fffffff);
  const path = pathEnv ?? opts.path;
  const numRuns = runsEnv !== undefined ? Number(runsEnv) : opts.numRuns;
  return { ...opts.parameters, seed, ...(path ? { path } : {}), ...(numRuns !== undefined ? { numRuns } : {}) };
}

/** The failure message: fast-check's report (counterexample, shrink count, error) plus how to replay it. */
function report(details: fc.RunDetails<unknown>): Error {
  const replay = `replay: VIAR_SEED=${details.seed} VIAR_PATH=${details.counterexamplePath ?? ''} <your test command>` +
    ` (or runProperty(property, { seed: ${details.seed}, path: ${JSON.stringify(details.counterexamplePath ?? '')} }))`;
  const message = fc.defaultReportMessage(details) ?? 'property failed';
  const cause = details.errorInstance instanceof Error && !message.includes(details.errorInstance.message) ? `\n${details.errorInstance.message}` : '';
  const error = new Error(`${message}${cause}\n${replay}`);
  if (details.errorInstance instanceof Error) error.cause = details.errorInstance;
  return error;
}

/**
 * Checks a synchronous property; throws an Error with the counterexample, seed and replay command on failure.
 * @example runProperty(fc.property(contractionArb(), (spec) => tidy(() => { assertBanachBounds(buildProblem(spec)); })), { numRuns: 30 })
 */
export function runProperty<Ts>(property: fc.IProperty<Ts>, opts: RunPropertyOptions = {}): void {
  const details = fc.check(property, settings(opts) as fc.Parameters<Ts>);
  if (details.failed) throw report(details as fc.RunDetails<unknown>);
}

/** {@link runProperty} for an asynchronous property (fc.asyncProperty). */
export async function runPropertyAsync<Ts>(property: fc.IAsyncProperty<Ts>, opts: RunPropertyOptions = {}): Promise<void> {
  const details = await fc.check(property, settings(opts) as fc.Parameters<Ts>);
  if (details.failed) throw report(details as fc.RunDetails<unknown>);
}
