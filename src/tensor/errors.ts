// Error classes. Every message starts with the op name, then names the argument and the shapes involved.

import type { Shape } from './shape.js';

/** Base class: `op` is the public op that rejected its input. */
export class ViarError extends Error {
  constructor(readonly op: string, message: string) {
    super(`${op}: ${message}`);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit together (broadcasting, matmul inner dims, reshape sizes...). */
export class ShapeError extends ViarError {}
/** An axis or index out of range, or an argument of the wrong kind. */
export class ArgumentError extends ViarError {}
/** An element type the op does not accept (e.g. float32 mixed with float64, float indices). */
export class DTypeError extends ViarError {}
/** A tensor used after dispose(). */
export class DisposedError extends ViarError {}
/** Misuse of the autograd engine (freed graph, non-scalar backward, a VJP breaking its contract). */
export class GradError extends ViarError {}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}
