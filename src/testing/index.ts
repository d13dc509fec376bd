// viar/testing: a property-test kit for implicit layers and gradients — fast-check arbitraries (tensors, shapes, view
// chains, contractions with a known Lipschitz constant, schedules) and oracles that throw readable reports.

/** @module viar/testing */

export {
  shapeArb, tensorArb, toTensor, broadcastablePairArb, viewChainArb, planViewChain, applyViewChain, contractionArb,
  fixedPointProblemArb, iterationScheduleArb,
  type ShapeConstraints, type TensorSpec, type TensorConstraints, type ViewStep, type ViewChain, type ContractionConstraints,
} from './arbitraries.js';
export { buildProblem, type FixedPointProblem, type ContractionSpec, type ImplicitMap } from './problems.js';
export {
  OracleError, assertGradcheck, formatGradcheck, checkContraction, assertContraction, checkBanachBounds, assertBanachBounds, assertIftGradient,
  checkJfbCosine, assertJfbCosine, checkPhantomConvergence, assertPhantomConvergence, checkBatchIndependence,
  assertBatchIndependence, checkFlatMemory, assertFlatMemory, checkNoLeak, assertNoLeak,
  type ContractionReport, type BanachOptions, type BanachRow, type BanachReport, type IftGradientOptions, type JfbCosineReport, type PhantomOptions,
  type PhantomReport, type BatchIndependenceOptions, type BatchIndependenceReport, type FlatMemoryOptions,
  type FlatMemoryReport, type LeakReport,
} from './oracles.js';
export { runProperty, runPropertyAsync, type RunPropertyOptions } from './run-property.js';
export * as linalg from './linalg.js';
