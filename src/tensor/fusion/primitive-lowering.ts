// A fused program lowered to a backend's primitive kernels, one per instruction: the fallback for a backend (or a
// runner) that cannot compile fused kernels yet. Intermediates are output-sized buffers, freed after their last use.

import type { Backend, DataId, TensorInfo } from '../backend/backend.js';
import type { DType } from '../dtype.js';
import { stridesOf, type Shape } from '../shape.js';
import { operandsOf, type FusedProgram } from './program.js';

/** Evaluates `p` with backend.unary/binary/where/clamp/fill; inputs already carry broadcast strides for `outShape`. */
export function evaluateWithPrimitives(be: Backend, p: FusedProgram, inputs: readonly TensorInfo[], outShape: Shape, outDtype: DType): DataId {
  const lastUse = p.instrs.map(() => -1);
  p.instrs.forEach((i, at) => { for (const o of operandsOf(i)) lastUse[o] = at; });
  const owned: (DataId | null)[] = p.instrs.map(() => null);
  const views: TensorInfo[] = [];
  const full = (id: DataId): TensorInfo => ({ dataId: id, shape: outShape, strides: stridesOf(outShape), offset: 0, dtype: outDtype });
  p.instrs.forEach((i, at) => {
    let id: DataId | null = null;
    switch (i.kind) {
      case 'input': views.push(inputs[i.index]!); return;
      case 'const': {
        id = be.fill(1, p.constants[i.slot]!, outDtype);
        owned[at] = id;
        views.push({ dataId: id, shape: outShape, strides: outShape.map(() => 0), offset: 0, dtype: outDtype });
        return;
      }
      case 'unary': id = be.unary(i.op, views[i.x]!); break;
      case 'binary': id = be.binary(i.op, views[i.a]!, views[i.b]!, outShape, outDtype); break;
      case 'where': id = be.where(views[i.cond]!, views[i.a]!, views[i.b]!, outShape); break;
      case 'clamp': id = be.clamp(views[i.x]!, p.constants[i.lo]!, p.constants[i.hi]!); break;
    }
    owned[at] = id;
    views.push(full(id));
    for (const o of operandsOf(i)) if (lastUse[o] === at && o !== p.output && owned[o]) { be.decRef(owned[o]!); owned[o] = null; }
  });
  const result = owned[p.output];
  // every other intermediate is freed by now except unused constants
  owned.forEach((id, at) => { if (id && at !== p.output) be.decRef(id); });
  if (result) return result;
  return be.copy(views[p.output]!, outDtype);
}
