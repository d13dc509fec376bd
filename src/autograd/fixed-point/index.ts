// Public surface of the implicit-layer primitive.

export { fixedPoint, FixedPointError, type FixedPointResult, type FixedPointStats, type SolveStats } from './fixed-point.js';
export type { FixedPointOptions, GradientRule, SolverName, AndersonOptions, BroydenOptions, AdjointCache, SolveSettings } from './options.js';
export type { SampleStatus } from './monitor.js';
