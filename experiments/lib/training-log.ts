// Reads what `viar train` wrote to its log (DIR/<model>-<data>.log): runs, wall time, steps, the fitted step time and
// the last validation figures. Pure string parsing, so it is unit-tested on log excerpts.

export interface TrainingLogSummary {
  /** `command:` lines: the first run plus every --resume. */
  runs: number;
  /** Wall seconds summed over the runs that finished or stopped cleanly ("(N s this run)"). */
  seconds: number | null;
  /** The last "done: N steps" or "stopped at step N/…" (null when neither appears). */
  steps: number | null;
  /** "fit: X s per step": the timed step cost that chose the steps (null without --fit-minutes). */
  fitSecondsPerStep: number | null;
  /** The last "val loss X, val acc Y%" line. */
  valLoss: number | null;
  valAccuracy: number | null;
  /** The last training-window line's loss and accuracy ("step N/M: loss X, acc Y%"). */
  trainLoss: number | null;
}

/** Parses a `viar train` log (see TrainingLogSummary). */
export function parseTrainingLog(text: string): TrainingLogSummary {
  const lines = text.split('\n');
  let runs = 0, seconds = 0, anySeconds = false;
  let steps: number | null = null, fit: number | null = null, valLoss: number | null = null, valAccuracy: number | null = null, trainLoss: number | null = null;
  for (const line of lines) {
    if (line.startsWith('command:')) runs++;
    const thisRun = /\((\d+(?:\.\d+)?) s this run\)\s*$/.exec(line);
    if (thisRun && (line.startsWith('done:') || line.startsWith('stopped at step'))) { seconds += Number(thisRun[1]); anySeconds = true; }
    const done = /^done: (\d+) steps/.exec(line);
    if (done) steps = Number(done[1]);
    const stopped = /^stopped at step (\d+)\//.exec(line);
    if (stopped) steps = Number(stopped[1]);
    const f = /^fit: (\d+(?:\.\d+)?) s per step/.exec(line);
    if (f) fit = Number(f[1]);
    const v = /val loss (\d+(?:\.\d+)?), val acc (\d+(?:\.\d+)?)%/.exec(line);
    if (v) { valLoss = Number(v[1]); valAccuracy = Number(v[2]) / 100; }
    const t = /^step \d+\/\d+: loss (\d+(?:\.\d+)?)/.exec(line);
    if (t) trainLoss = Number(t[1]);
  }
  return { runs, seconds: anySeconds ? seconds : null, steps, fitSecondsPerStep: fit, valLoss, valAccuracy, trainLoss };
}

/** The seed in a folder name like seed-2 or seed2 (null when there is none). */
export function seedFromPath(path: string): number | null {
  const m = /(?:^|[/\\])seed[-_]?(\d+)(?:[/\\]|$)/.exec(path);
  return m ? Number(m[1]) : null;
}
