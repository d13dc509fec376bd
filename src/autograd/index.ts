// Public surface of src/autograd: grad modes, backward, functional transforms, custom VJPs, gradcheck, toDot.

/** @module viar/autograd */

import '../tensor/fluent.js';

export { noGrad, enableGrad, isGradEnabled } from '../tensor/graph/grad-mode.js';
export { backward, gradients, type BackwardOptions } from './backward.js';
export { grad, valueAndGrad, vjp, type VjpResult } from './functional.js';
export { captureGradients, type CapturedGradients } from './capture-gradients.js';
export { customVjp, type CustomVjpDefinition, type CustomVjpContext } from './custom-vjp.js';
export { gradcheck, assertGradcheck, type GradcheckOptions, type GradcheckResult } from './gradcheck.js';
export { toDot, type ToDotOptions } from './to-dot.js';
export { defineOp, type OpDefinition } from '../tensor/graph/define-op.js';
export type { VjpContext, Vjp } from '../tensor/graph/node.js';
export * from './fixed-point/index.js';
export * from './deq/index.js';
