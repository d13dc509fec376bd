// Fusion of elementwise chains: the program description and builder, the differentiable fused op, the composites.

export {
  trace, select, FusedValue, ProgramBuilder, type FusedProgram, type FusedInstr,
} from './program.js';
export { gradientProgram } from './derivative.js';
export { applyProgram, setFusionEnabled, isFusionEnabled } from './fused-op.js';
export {
  fusedFunction, modulate, gatedResidual, maskedGatedResidual, cfgMix, scaleAndMask, l2Scale, dropoutMask, fusedActivation,
  biasActivation, type FusedActivation,
} from './composites.js';
