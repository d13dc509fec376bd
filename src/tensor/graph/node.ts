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

let liveNodes = 0;
let nextNodeId = 0;

export function liveGradNodes(): number {
  return liveNodes;
}

/** The id the next recorded node will get: nodes with id ≥ a watermark were recorded after it was read. */
export function gradNodeWatermark(): number {
  return nextNodeId;
}

export class GradNode<A = unknown> {
  readonly id = nextNodeId++;
  /** Number of tensors and child nodes referencing this node. */
  private refs = 0;
  /** Set once the saved tensors were released (after a backward without retainGraph). */
  freed = false;
  private released = false;

  constructor(
    readonly op: string,
    /** The input tensors as given (leaves receive their gradient in .grad through these). */
    readonly inputs: readonly Tensor[],
    /** inputs[i].node at record time (held with a reference). */
    readonly parents: readonly (GradNode | null)[],
    readonly needs: readonly boolean[],
    readonly vjp: Vjp<A>,
    readonly attrs: A,
    private savedInputs: (Tensor | null)[],
    private savedOutput: Tensor | null,
    private savedExtra: Tensor[],
    readonly outShape: Shape,
    readonly outDtype: DType,
  ) {
    liveNodes++;
    for (const p of parents) p?.incRef();
  }

  context(): VjpContext<A> {
    return {
      inputs: this.savedInputs,
      output: this.savedOutput,
      saved: this.savedExtra,
      attrs: this.attrs,
      needs: this.needs,
      inputShapes: this.inputs.map((t) => t.shape),
      inputDtypes: this.inputs.map((t) => t.dtype),
    };
  }

  /** Saves the op's own output (a weak alias: it holds no reference to this node). */
  setSavedOutput(t: Tensor): void {
    this.savedOutput = t;
  }

  /** Bytes of tensor data this node keeps alive for its backward (views count their whole buffer once each). */
  savedBytes(): number {
    let bytes = 0;
    for (const t of [...this.savedInputs, this.savedOutput, ...this.savedExtra]) if (t) bytes += t.size * (t.dtype === 'float64' ? 8 : 4);
    return bytes;
  }

  /** Releases saved tensors; the node stays in the graph but can no longer run its VJP. */
  releaseSaved(): void {
    if (this.freed) return;
    this.freed = true;
    for (const t of this.savedInputs) t?.dispose();
    this.savedOutput?.dispose();
    for (const t of this.savedExtra) t.dispose();
    this.savedExtra = [];
    this.savedInputs = [];
    this.savedOutput = null;
  }

  incRef(): void {
    this.refs++;
  }

  decRef(): void {
    if (--this.refs > 0 || this.released) return;
    this.released = true;
    liveNodes--;
    this.releaseSaved();
    for (const p of this.parents) p?.decRef();
  }
}
