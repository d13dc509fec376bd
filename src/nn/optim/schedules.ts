// Learning-rate schedules as pure functions of the step (0-based): linear warmup, cosine, linear decay, and their
// composition. Call `optimizer.lr = schedule(step)` before each step.

import { ArgumentError } from '../../tensor/errors.js';

export type Schedule = (step: number) => number;

/** base·step/warmupSteps for step < warmupSteps, then base (step 0 has lr 0, as the usual HF convention). */
export function linearWarmup(baseLr: number, warmupSteps: number): Schedule {
  if (!(warmupSteps >= 0)) throw new ArgumentError('linearWarmup', `warmupSteps must be ≥ 0, got ${warmupSteps}`);
  return (step) => (step < warmupSteps ? (baseLr * step) / warmupSteps : baseLr);
}

/** PyTorch's CosineAnnealingLR (closed form): ηmin + (base − ηmin)(1 + cos(π·step/T))/2. */
export function cosineAnnealing(baseLr: number, tMax: number, etaMin = 0): Schedule {
  if (!(tMax > 0)) throw new ArgumentError('cosineAnnealing', `tMax must be > 0, got ${tMax}`);
  return (step) => etaMin + ((baseLr - etaMin) * (1 + Math.cos((Math.PI * Math.min(step, tMax)) / tMax))) / 2;
}

/** PyTorch's LinearLR: base·(start + (end − start)·min(step, total)/total). */
export function linearDecay(baseLr: number, totalSteps: number, startFactor = 1, endFactor = 0): Schedule {
  if (!(totalSteps > 0)) throw new ArgumentError('linearDecay', `totalSteps must be > 0, got ${totalSteps}`);
  return (step) => baseLr * (startFactor + ((endFactor - startFactor) * Math.min(step, totalSteps)) / totalSteps);
}

/** Linear warmup over warmupSteps, then cosine from base to minLr at totalSteps. */
export function warmupCosine(baseLr: number, warmupSteps: number, totalSteps: number, minLr = 0): Schedule {
  if (!(totalSteps > warmupSteps)) throw new ArgumentError('warmupCosine', `totalSteps (${totalSteps}) must exceed warmupSteps (${warmupSteps})`);
  return (step) => {
    if (step < warmupSteps) return (baseLr * step) / warmupSteps;
    const progress = Math.min((step - warmupSteps) / (totalSteps - warmupSteps), 1);
    return minLr + ((baseLr - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  };
}
