// Public surface of the DEQ toolkit: spectral radius, Jacobian regularization and their options.

export { estimateSpectralRadius, type SpectralRadiusOptions } from './spectral-radius.js';
export type { ProbeOptions } from './probes.js';
export { jacobianFrobeniusSq, jacobianRegularization, type JacobianNormOptions, type JacobianRegOptions } from './jacobian-reg.js';
export { correctionLoss, correctionWeights, type CorrectionOptions } from './correction.js';
