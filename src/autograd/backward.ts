// Reverse-mode accumulation over the recorded graph: topological order, one VJP per node, gradients summed
// where a tensor is used twice, every returned gradient checked against its input's shape and dtype.

import type { Tensor } from '../tensor/tensor.js';
import { GradError, fmtShape } from '../tensor/errors.js';
import { shapesEqual } from '../tensor/shape.js';
import { keep, tidy } from '../tensor/memory.js';
import { add } from '../tensor/ops/elementwise.js';
import { onesLike, zerosLike } from '../tensor/creation.js';
import { enableGrad, noGrad } from '../tensor/graph/grad-mode.js';
import type { GradNode } from '../tensor/graph/node.js';

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

/** Reverse post-order of the nodes reachable from the roots (parents after children). */
function topologicalOrder(roots: readonly Root[]): GradNode[] {
  const visited = new Set<GradNode>();
  const order: GradNode[] = [];
  const stack: [GradNode, number][] = [];
  for (const r of roots) {
    if (!r.tensor.node || visited.has(r.tensor.node)) continue;
    visited.add(r.tensor.node);
    stack.push([r.tensor.node, 0]);
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

/** Saved aliases of a leaf (higher-order graphs) send their gradient to the leaf itself. */
function leafOf(t: Tensor): Tensor {
  return t.gradTarget ?? t;
}

function accumulate<K>(map: Map<K, Tensor>, key: K, g: Tensor): void {
  const old = map.get(key);
  if (!old) {
    map.set(key, g);
    return;
  }
  map.set(key, add(old, g));
  old.dispose();
  g.dispose();
}

function checkGradient(node: GradNode, i: number, g: unknown): asserts g is Tensor {
  const input = node.inputs[i]!;
  if (!g || typeof g !== 'object' || !(g as Tensor).isTensor) {
    throw new GradError('backward', `the VJP of '${node.op}' returned ${String(g)} for input ${i}; expected a Tensor or null`);
  }
  const t = g as Tensor;
  if (!shapesEqual(t.shape, input.shape)) {
    throw new GradError('backward', `the VJP of '${node.op}' returned a gradient of shape ${fmtShape(t.shape)} for input ${i} of shape ${fmtShape(input.shape)}`);
  }
  if (t.dtype !== input.dtype) {
    throw new GradError('backward', `the VJP of '${node.op}' returned a ${t.dtype} gradient for input ${i} of dtype ${input.dtype}`);
  }
}

/**
 * The engine. Propagates `roots` gradients back through the graph. Gradients of `targets` are returned
 * (keyed by tensor); when `intoLeaves` is set, every leaf that requires grad also accumulates into .grad.
 */
export function runBackward(
  roots: readonly Root[], targets: readonly Tensor[], intoLeaves: boolean, opts: BackwardOptions,
): Map<Tensor, Tensor> {
  const createGraph = opts.createGraph ?? false;
  const retainGraph = opts.retainGraph ?? createGraph;
  const order = topologicalOrder(roots);
  const nodeGrads = new Map<GradNode, Tensor>();
  const leafGrads = new Map<Tensor, Tensor>();
  const targetByNode = new Map<GradNode, Tensor[]>();
  const leafTargets = new Set<Tensor>();
  for (const t of targets) {
    if (t.node) targetByNode.set(t.node, [...(targetByNode.get(t.node) ?? []), t]);
    else leafTargets.add(leafOf(t));
  }
  const results = new Map<Tensor, Tensor>();

  // When only targets are wanted, skip nodes from which no target is reachable.
  let useful: Set<GradNode> | null = null;
  if (!intoLeaves) {
    useful = new Set();
    for (let k = order.length - 1; k >= 0; k--) {
      const node = order[k]!;
      const reaches = targetByNode.has(node) || node.inputs.some((inp, i) =>
        node.needs[i] && (node.parents[i] ? useful!.has(node.parents[i]!) : leafTargets.has(leafOf(inp))));
      if (reaches) useful.add(node);
    }
  }

  const run = createGraph ? enableGrad : noGrad;
  run(() => {
    for (const r of roots) {
      if (r.tensor.node) accumulate(nodeGrads, r.tensor.node, r.grad);
      else accumulate(leafGrads, leafOf(r.tensor), r.grad);
    }
    for (const node of order) {
      const g = nodeGrads.get(node);
      if (!g) continue;
      nodeGrads.delete(node);
      const asTarget = targetByNode.get(node);
      if (asTarget) for (const t of asTarget) results.set(t, g);
      if (useful && !useful.has(node)) {
        if (!asTarget) g.dispose();
        continue;
      }
      if (node.freed) {
        throw new GradError('backward', `the graph through '${node.op}' was already freed by an earlier backward; pass { retainGraph: true } to the first call to differentiate twice`);
      }
      // tidy: the VJP's temporaries die here, only the returned gradients survive
      const grads = tidy(() => node.vjp(g, node.context()));
      if (!Array.isArray(grads) || grads.length !== node.inputs.length) {
        throw new GradError('backward', `the VJP of '${node.op}' returned ${Array.isArray(grads) ? grads.length : typeof grads} gradients for ${node.inputs.length} inputs`);
      }
      grads.forEach((gi, i) => {
        if (gi === null || gi === undefined) return;
        checkGradient(node, i, gi);
        if (!node.needs[i]) {
          if (gi !== g) gi.dispose();
          return;
        }
        const parent = node.parents[i];
        // A VJP may pass g itself through (add, copy); take a fresh reference so disposals stay balanced.
        const owned = gi === g ? add(g, 0) : gi;
        if (parent) accumulate(nodeGrads, parent, owned);
        else accumulate(leafGrads, leafOf(node.inputs[i]!), owned);
      });
      if (!asTarget) g.dispose();
      if (!retainGraph) node.releaseSaved();
    }
    for (const [leaf, g] of leafGrads) {
      if (leafTargets.has(leaf)) results.set(leaf, g);
      if (intoLeaves && leaf.requiresGrad && !leaf.isDisposed) {
        const acc = leaf.grad ? add(leaf.grad, g) : leafTargets.has(leaf) ? add(g, 0) : g;
        if (leaf.grad && acc !== leaf.grad) leaf.grad.dispose();
        leaf.grad = keep(acc);
        if (acc !== g && !leafTargets.has(leaf)) g.dispose();
      } else if (!leafTargets.has(leaf)) {
        g.dispose();
      }
    }
  });
  return results;
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
  return add(gy, 0);
}

/**
 * Accumulates d(y)/d(leaf) into leaf.grad for every leaf that requires grad. y must be a scalar unless
 * `gradient` (same shape as y) is given. Saved tensors are freed unless retainGraph.
 * @example const loss = mean(square(sub(model(x), y))); loss.backward();
 */
export function backward(y: Tensor, gradient?: Tensor, opts: BackwardOptions = {}): void {
  const seed = noGrad(() => seedFor(y, gradient, 'backward'));
  runBackward([{ tensor: y, grad: seed }], [], true, opts);
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
  const results = runBackward(roots, xs, false, opts);
  const seen = new Set<Tensor>();
  return xs.map((x) => {
    const g = results.get(x.node ? x : leafOf(x));
    if (!g) return zerosLike(x);
    // the same tensor listed twice gets two independent results
    if (seen.has(x)) return add(g, 0);
    seen.add(x);
    return g;
  });
}
