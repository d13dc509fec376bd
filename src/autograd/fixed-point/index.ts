// Public surface of the implicit-layer primitive.

export {
  fixedPoint, fixedPointAsync, gradientRules, readBackwardStats, FixedPointError, type FixedPointResult, type FixedPointStats, type SolveStats,
} from './fixed-point.js';
export type { FixedPointOptions, GradientRule, SolverName, AndersonOptions, BroydenOptions, AdjointCache, SolveSettings } from './options.js';
export type { SampleStatus, SolveContext, Measurement, Residuals } from './monitor.js';
export type { FixedPointSolver } from './solvers.js';
export type { State } from './state.js';
export type { Solving, ReadRequest } from './drive.js';
