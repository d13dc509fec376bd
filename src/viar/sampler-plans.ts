// Captured samplers: a model's whole sampling pass (every scale, then the decoder) recorded once per batch size and
// settings with captureGraph and replayed on later calls; a recording is dropped once a weight it read was replaced.

import type { CapturedGraph } from '../tensor/capture.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';

interface Plan {
  graph: CapturedGraph<Tensor[]>;
  /** The data of every weight the recording read, as it was when recorded. */
  weights: readonly unknown[];
}

/** The data ids of a module's parameters and buffers: they change when training or loading replaces a weight. */
export function weightData(...modules: Module[]): unknown[] {
  return modules.flatMap((m) => [...m.parameters(), ...m.namedBuffers().map(([, t]) => t)].map((t) => t.dataId));
}

/** Recordings by key, the most recently used `capacity` of them (each pins the device memory of one sampling pass). */
export class SamplerPlans {
  private readonly plans = new Map<string, Plan>();

  constructor(private readonly capacity = 2) {}

  /**
   * Runs the recording for `key` on `inputs`, recording it first with `record` when there is none or when `weights`
   * (see weightData) differ from those it was recorded with. The outputs are fresh tensors the caller owns.
   */
  run(key: string, weights: readonly unknown[], inputs: Tensor[], record: () => CapturedGraph<Tensor[]>): Tensor[] {
    let plan = this.plans.get(key);
    if (plan && !sameData(plan.weights, weights)) {
      plan.graph.dispose();
      this.plans.delete(key);
      plan = undefined;
    }
    if (plan) {
      this.plans.delete(key); // re-inserted below: Map order is least recently used first
    } else {
      for (const [oldest, p] of this.plans) {
        if (this.plans.size < this.capacity) break;
        p.graph.dispose();
        this.plans.delete(oldest);
      }
      plan = { graph: record(), weights };
    }
    this.plans.set(key, plan);
    return plan.graph.run(...inputs);
  }

  /** Recordings held now. */
  get size(): number {
    return this.plans.size;
  }

  /** Frees every recording and the device memory it pinned. */
  dispose(): void {
    for (const p of this.plans.values()) p.graph.dispose();
    this.plans.clear();
  }
}

function sameData(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
