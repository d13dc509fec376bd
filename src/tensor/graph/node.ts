// GradNode: one recorded op application — its inputs, what it saved for backward, and its VJP.
// Nodes are refcounted by the tensors and nodes that point at them, so an unused graph is freed deterministically.

import type { DType } from '../dtype.js';
import type { Shape } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** What a VJP receives besides the output gradient. */
export interface VjpContext<A> {
  /** Saved inputs (null for inputs the op did not ask to save). */
  readonly inputs: readonly (Tensor | null)[];
  /** The saved output, if the op asked for it. */
  readonly output: Tensor | null;
  /** Extra tensors the forward saved (custom VJPs). */
  readonly saved: readonly Tensor[];
  readonly attrs: A;
  /** needs[i]: input i requires a gradient (a VJP may return null for the others). */
  readonly needs: readonly boolean[];
  readonly inputShapes: readonly Shape[];
  readonly inputDtypes: readonly DType[];
}

/** Maps the output gradient to one gradient (or null) per input, using differentiable tensor ops. */
export type Vjp<A> = (gy: Tensor, ctx: VjpContext<A>) => readonly (Tensor | null)[];

/** What defineOp records for one op application. */
export interface GradNodeFields {
  op: string;
  /** The input tensors as given (leaves receive their gradient in .grad through these). */
  inputs: readonly Tensor[];
  /** needs[i]: inputs[i] required grad when the op ran. */
  needs: readonly boolean[];
  /** The op's attributes (what printers show; the VJP receives its own typed copy). */
  attrs: unknown;
  /** The op's VJP, bound to its typed attributes by defineOp. */
  vjp: Vjp<unknown>;
  /** Graph-internal aliases of the inputs the VJP reads (null for the others). */
  savedInputs: (Tensor | null)[];
  /** Graph-internal aliases of extra tensors the forward saved. */
  savedExtra: Tensor[];
}

let liveNodes = 0;
let nextNodeId = 0;

export function liveGradNodes(): number {
  return liveNodes;
}

/** The id the next recorded node will get: nodes with id ≥ a watermark were recorded after it was read. */
export function gradNodeWatermark(): number {
  return nextNodeId;
}

export class GradNode {
  readonly id = nextNodeId++;
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** inputs[i].node at record time (held with a reference). */
  readonly parents: readonly (GradNode | null)[];
  readonly needs: readonly boolean[];
  readonly attrs: unknown;
  /** Set once the saved tensors were released (after a backward without retainGraph). */
  freed = false;
  /** Number of tensors and child nodes referencing this node. */
  private refs = 0;
  private released = false;
  private readonly vjp: Vjp<unknown>;
  private savedInputs: (Tensor | null)[];
  private savedOutput: Tensor | null = null;
  private savedExtra: Tensor[];

  constructor(fields: GradNodeFields) {
    this.op = fields.op;
    this.inputs = fields.inputs;
    this.parents = fields.inputs.map((t) => t.node);
    this.needs = fields.needs;
    this.attrs = fields.attrs;
    this.vjp = fields.vjp;
    this.savedInputs = fields.savedInputs;
    this.savedExtra = fields.savedExtra;
    liveNodes++;
    for (const p of this.parents) p?.incRef();
  }

  /** The chain rule at this node: the output gradient gy → one gradient (or null) per input. */
  pullback(gy: Tensor): readonly (Tensor | null)[] {
    return this.vjp(gy, {
      inputs: this.savedInputs,
      output: this.savedOutput,
      saved: this.savedExtra,
      attrs: this.attrs,
      needs: this.needs,
      inputShapes: this.inputs.map((t) => t.shape),
      inputDtypes: this.inputs.map((t) => t.dtype),
    });
  }

  /** Saves the op's own output (a weak alias: it holds no reference to this node). */
  setSavedOutput(t: Tensor): void {
    this.savedOutput = t;
  }

  /** What this node keeps alive for its backward (empty once freed). */
  get saved(): { readonly inputs: readonly (Tensor | null)[]; readonly output: Tensor | null; readonly extra: readonly Tensor[] } {
    return { inputs: this.savedInputs, output: this.savedOutput, extra: this.savedExtra };
  }

  /** The saved tensors in one list (saved inputs, output, extras). */
  savedTensors(): Tensor[] {
    return [...this.savedInputs, this.savedOutput, ...this.savedExtra].filter((t): t is Tensor => t !== null);
  }

  /** Bytes of tensor data this node keeps alive for its backward (each saved view counts its own elements). */
  savedBytes(): number {
    return this.savedTensors().reduce((bytes, t) => bytes + t.size * (t.dtype === 'float64' ? 8 : 4), 0);
  }

  /** Releases saved tensors; the node stays in the graph but can no longer run its VJP. */
  releaseSaved(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of this.savedTensors()) t.dispose();
    this.savedExtra = [];
    this.savedInputs = [];
    this.savedOutput = null;
  }

  incRef(): void {
    this.refs++;
  }

  /** Drops one reference; at zero the node frees its saved tensors and drops its parents (a loop, not recursion, so deep graphs do not overflow the stack). */
  decRef(): void {
    const pending: GradNode[] = [this];
    while (pending.length) {
      const node = pending.pop()!;
      if (--node.refs > 0 || node.released) continue;
      node.released = true;
      liveNodes--;
      node.releaseSaved();
      for (const p of node.parents) if (p) pending.push(p);
    }
  }
}
