// Reverse-mode accumulation over the recorded graph: topological order, one VJP per node, gradients summed
// where a tensor is used twice, every returned gradient checked against its input's shape and dtype.

import type { Tensor } from '../tensor/tensor.js';
import { GradError, fmtShape } from '../tensor/errors.js';
import { shapesEqual } from '../tensor/shape.js';
import { keep, tidy } from '../tensor/memory.js';
import { add } from '../tensor/ops/elementwise.js';
import { onesLike, zerosLike } from '../tensor/creation.js';
import { fresh } from '../tensor/ops/movement.js';
import { enableGrad, noGrad } from '../tensor/graph/grad-mode.js';
import { GradNode } from '../tensor/graph/node.js';

export interface BackwardOptions {
  /** Keep saved tensors so the graph can be differentiated again (default false: freed as backward walks). */
  retainGraph?: boolean;
  /** Record the backward pass itself, so gradients can be differentiated (higher order). Implies retainGraph. */
  createGraph?: boolean;
}

interface Root {
  tensor: Tensor;
  grad: Tensor;
}

/** Where a gradient is summed: the node that produced a tensor, or the leaf itself. */
type GradKey = GradNode | Tensor;

/** Saved aliases of a leaf (higher-order graphs) send their gradient to the leaf itself. */
function keyOf(t: Tensor): GradKey {
  return t.node ?? t.gradTarget ?? t;
}

/**
 * The running sums ∂L/∂(each key). It owns every tensor handed to it: add() takes ownership, take() gives it
 * back to the caller, and dispose() frees whatever nobody took. Sums are recorded only under createGraph.
 */
class GradientSums {
  private readonly sums = new Map<GradKey, Tensor>();

  constructor(private readonly record: boolean) {}

  add(key: GradKey, g: Tensor): void {
    const old = this.sums.get(key);
    if (!old) {
      this.sums.set(key, g);
      return;
    }
    this.sums.set(key, (this.record ? enableGrad : noGrad)(() => add(old, g)));
    old.dispose();
    g.dispose();
  }

  peek(key: GradKey): Tensor | undefined {
    return this.sums.get(key);
  }

  take(key: GradKey): Tensor | undefined {
    const g = this.sums.get(key);
    this.sums.delete(key);
    return g;
  }

  /** The leaves that received a gradient (their sums stay owned here until taken). */
  leaves(): Tensor[] {
    return [...this.sums.keys()].filter((k): k is Tensor => !(k instanceof GradNode));
  }

  dispose(): void {
    for (const g of this.sums.values()) g.dispose();
    this.sums.clear();
  }
}

/** Reverse post-order of the nodes reachable from the roots (every node before the nodes it was computed from). */
function topologicalOrder(roots: readonly Tensor[]): GradNode[] {
  const visited = new Set<GradNode>();
  const order: GradNode[] = [];
  const stack: [GradNode, number][] = [];
  for (const r of roots) {
    if (!r.node || visited.has(r.node)) continue;
    visited.add(r.node);
    stack.push([r.node, 0]);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [node, i] = top;
      if (i < node.parents.length) {
        top[1]++;
        const p = node.parents[i];
        if (p && node.needs[i] && !visited.has(p)) {
          visited.add(p);
          stack.push([p, 0]);
        }
      } else {
        stack.pop();
        order.push(node);
      }
    }
  }
  return order.reverse();
}

/** The nodes of `order` from which a wanted key is reachable: gradients() runs no VJP whose result nobody asked for. */
function pruneTo(order: readonly GradNode[], wanted: ReadonlySet<GradKey>): GradNode[] {
  const useful = new Set<GradKey>(wanted);
  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k]!;
    if (node.inputs.some((x, i) => node.needs[i] && useful.has(keyOf(x)))) useful.add(node);
  }
  return order.filter((node) => useful.has(node));
}

function checkGradients(node: GradNode, grads: unknown): asserts grads is readonly (Tensor | null | undefined)[] {
  if (!Array.isArray(grads) || grads.length !== node.inputs.length) {
    throw new GradError('backward', `the VJP of '${node.op}' returned ${Array.isArray(grads) ? grads.length : typeof grads} gradients for ${node.inputs.length} inputs`);
  }
  grads.forEach((g: unknown, i) => {
    if (g === null || g === undefined) return;
    const input = node.inputs[i]!;
    if (typeof g !== 'object' || !(g as Tensor).isTensor) {
      throw new GradError('backward', `the VJP of '${node.op}' returned ${String(g)} for input ${i}; expected a Tensor or null`);
    }
    const t = g as Tensor;
    if (!shapesEqual(t.shape, input.shape)) {
      throw new GradError('backward', `the VJP of '${node.op}' returned a gradient of shape ${fmtShape(t.shape)} for input ${i} of shape ${fmtShape(input.shape)}`);
    }
    if (t.dtype !== input.dtype) {
      throw new GradError('backward', `the VJP of '${node.op}' returned a ${t.dtype} gradient for input ${i} of dtype ${input.dtype}`);
    }
  });
}

/**
 * The engine: the chain rule over the recorded graph. Seeds each root with its gradient, then visits `order`
 * (children before parents) and sends each node's summed output gradient through its VJP to its inputs.
 * Returns the sums left at the leaves and at the `kept` nodes (whose gradients the caller wants).
 */
function runBackward(roots: readonly Root[], order: readonly GradNode[], kept: ReadonlySet<GradKey>, opts: BackwardOptions): GradientSums {
  const createGraph = opts.createGraph ?? false;
  const retainGraph = opts.retainGraph ?? createGraph;
  const sums = new GradientSums(createGraph);
  (createGraph ? enableGrad : noGrad)(() => {
    for (const r of roots) sums.add(keyOf(r.tensor), r.grad);
    for (const node of order) {
      const gy = kept.has(node) ? sums.peek(node) : sums.take(node);
      if (!gy) continue;
      if (node.freed) {
        throw new GradError('backward', `the graph through '${node.op}' was already freed by an earlier backward; pass { retainGraph: true } to the first call to differentiate twice`);
      }
      // tidy: the VJP's temporaries die here, only the returned gradients survive
      const grads = tidy(() => node.pullback(gy));
      checkGradients(node, grads);
      grads.forEach((g, i) => {
        // a VJP may pass gy itself through (add, reshape of the same shape): the sum gets its own reference
        if (g && node.needs[i]) sums.add(keyOf(node.inputs[i]!), g === gy ? fresh(gy) : g);
        else if (g && g !== gy) g.dispose();
      });
      if (!kept.has(node)) gy.dispose();
      if (!retainGraph) node.releaseSaved();
    }
  });
  return sums;
}

function seedFor(y: Tensor, gy: Tensor | undefined, op: string): Tensor {
  y.assertAlive(op, 'output');
  if (!y.requiresGrad) {
    throw new GradError(op, `the output (shape ${fmtShape(y.shape)}) does not require grad: no input requires grad, or it was computed under noGrad`);
  }
  if (gy === undefined) {
    if (y.size !== 1) {
      throw new GradError(op, `the output has shape ${fmtShape(y.shape)}; pass a gradient of that shape, or reduce it to a scalar first`);
    }
    return onesLike(y);
  }
  gy.assertAlive(op, 'gradient');
  if (!shapesEqual(gy.shape, y.shape)) throw new GradError(op, `gradient has shape ${fmtShape(gy.shape)}, output has ${fmtShape(y.shape)}`);
  if (gy.dtype !== y.dtype) throw new GradError(op, `gradient has dtype ${gy.dtype}, output has ${y.dtype}`);
  return fresh(gy);
}

/**
 * Accumulates d(y)/d(leaf) into leaf.grad for every leaf that requires grad. y must be a scalar unless
 * `gradient` (same shape as y) is given. Saved tensors are freed unless retainGraph.
 * @example const loss = mean(square(sub(model(x), y))); loss.backward();
 */
export function backward(y: Tensor, gradient?: Tensor, opts: BackwardOptions = {}): void {
  const seed = noGrad(() => seedFor(y, gradient, 'backward'));
  const sums = runBackward([{ tensor: y, grad: seed }], topologicalOrder([y]), new Set(), opts);
  for (const leaf of sums.leaves()) {
    if (!leaf.requiresGrad || leaf.isDisposed) continue;
    if (leaf.grad) sums.add(leaf, leaf.grad);
    leaf.grad = keep(sums.take(leaf)!);
  }
  sums.dispose();
}

/**
 * Gradients of Σ (ys[i] · gradOutputs[i]) with respect to each of `xs` (leaves or intermediates), without
 * touching any .grad. Inputs the outputs do not depend on get zeros.
 */
export function gradients(
  ys: Tensor | readonly Tensor[], xs: readonly Tensor[], gradOutputs?: readonly (Tensor | undefined)[], opts: BackwardOptions = {},
): Tensor[] {
  const outs = Array.isArray(ys) ? (ys as Tensor[]) : [ys as Tensor];
  xs.forEach((x) => x.assertAlive('gradients', 'xs'));
  const roots = outs.map((y, i) => ({ tensor: y, grad: noGrad(() => seedFor(y, gradOutputs?.[i], 'gradients')) }));
  const wanted = new Set(xs.map(keyOf));
  const sums = runBackward(roots, pruneTo(topologicalOrder(outs), wanted), wanted, opts);
  const given = new Map<GradKey, Tensor>();
  const results = xs.map((x) => {
    const key = keyOf(x);
    // the same tensor listed twice gets two independent results
    const first = given.get(key);
    const g = first ? fresh(first) : (sums.take(key) ?? zerosLike(x));
    given.set(key, g);
    return g;
  });
  sums.dispose();
  return results;
}
