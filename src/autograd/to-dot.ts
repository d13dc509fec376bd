// toDot: the recorded graph behind a tensor as Graphviz DOT text (micrograd's draw_dot), with every op's output
// shape and what it saved for backward. Render with `dot -Tsvg graph.dot > graph.svg`.

import type { Tensor } from '../tensor/tensor.js';
import { fmtShape } from '../tensor/errors.js';
import type { GradNode } from '../tensor/graph/node.js';

/** One line of an op's attributes: scalars and short number lists only (tensors and closures are left out). */
function describeAttrs(attrs: unknown): string {
  if (attrs === null || typeof attrs !== 'object') return attrs === undefined ? '' : String(attrs);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') parts.push(`${k}=${v}`);
    else if (Array.isArray(v) && v.length <= 8 && v.every((e) => typeof e === 'number')) parts.push(`${k}=[${v.join(',')}]`);
  }
  return parts.join(' ');
}

function describeSaved(node: GradNode): string {
  if (node.freed) return 'saved: (freed by backward)';
  const { inputs, output, extra } = node.saved;
  const parts = inputs.flatMap((t, i) => (t ? [`x${i}`] : []));
  if (output) parts.push('out');
  extra.forEach((t) => parts.push(fmtShape(t.shape)));
  return parts.length ? `saves ${parts.join(', ')}` : 'saves nothing';
}

/** Small tensors' values, as micrograd shows each Value's data and grad (≤ 8 elements, 4 significant digits). */
function describeValues(label: string, t: Tensor | null): string {
  if (!t || t.isDisposed || t.size > 8 || !t.backend.canReadSync) return '';
  return `${label} [${Array.from(t.dataSync(), (v) => Number(v.toPrecision(4))).join(', ')}]`;
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export interface ToDotOptions {
  /** Also print the values of tensors with at most 8 elements, and the .grad of such leaves (default false). */
  values?: boolean;
}

/**
 * The graph that backward would walk from `roots`, as DOT text: one box per recorded op (name, attributes, output
 * shape and dtype, which of its inputs and output it saved), one ellipse per leaf (its name, shape, whether it
 * requires grad), edges from inputs to ops labelled with the input's position; inputs that need no gradient are
 * dashed. With { values: true }, small tensors also show their data and leaves their grad.
 * @example writeFileSync('graph.dot', toDot(loss)); // then: dot -Tsvg graph.dot > graph.svg
 */
export function toDot(roots: Tensor | readonly Tensor[], opts: ToDotOptions = {}): string {
  const values = opts.values ?? false;
  const outs = Array.isArray(roots) ? (roots as readonly Tensor[]) : [roots as Tensor];
  const lines = ['digraph viar {', '  rankdir=LR;', '  node [fontname="Helvetica", fontsize=10];', '  edge [fontname="Helvetica", fontsize=9];'];
  // DOT ids count from 0 in this printout, so the text depends only on the graph
  const ids = new Map<GradNode | Tensor, string>();
  const keyOf = (t: Tensor): GradNode | Tensor => t.node ?? t.gradTarget ?? t;
  const idOf = (t: Tensor): string => ids.get(keyOf(t))!;
  const visit = (t: Tensor, isRoot: boolean): void => {
    const key = keyOf(t);
    if (ids.has(key)) return;
    ids.set(key, `${t.node ? 'op' : 't'}${ids.size}`);
    const what = `${fmtShape(t.shape)} ${t.dtype}`;
    const node = t.node;
    if (!node) {
      const leaf = t.gradTarget ?? t;
      const shown = values ? [describeValues('data', leaf), describeValues('grad', leaf.grad)] : [];
      const label = [leaf.name, what, leaf.requiresGrad ? 'requires grad' : 'constant', ...shown].filter(Boolean).join('\n');
      lines.push(`  ${idOf(t)} [shape=ellipse, label=${quote(label)}${isRoot ? ', peripheries=2' : ''}];`);
      return;
    }
    const attrs = describeAttrs(node.attrs);
    const label = [node.op, attrs, `→ ${what}`, values ? describeValues('data', t) : '', describeSaved(node)].filter(Boolean).join('\n');
    lines.push(`  ${idOf(t)} [shape=box, style=rounded, label=${quote(label)}${isRoot ? ', peripheries=2' : ''}];`);
    node.inputs.forEach((x, i) => {
      visit(x, false);
      const attrs = [node.inputs.length > 1 ? `label="x${i}"` : '', node.needs[i] ? '' : 'style=dashed'].filter(Boolean);
      lines.push(`  ${idOf(x)} -> ${idOf(t)}${attrs.length ? ` [${attrs.join(', ')}]` : ''};`);
    });
  };
  outs.forEach((t) => visit(t, true));
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
