// Fused attention on strided [B, H, L, d] views: softmax(scale·q·kᵀ + mask)·v one query row at a time, keeping each
// row's max and sum for the backward, which recomputes the probabilities instead of storing them. The readable
// reference of the WebAssembly kernels (wasm/attention-module.ts).

import type { TensorInfo } from '../backend.js';
import type { TypedArray } from '../../dtype.js';

/** A strided 4-D operand: element (b, h, i, j) at offset + b·s[0] + h·s[1] + i·s[2] + j·s[3]. */
export interface AttentionOperand { values: TypedArray; info: TensorInfo }

const at = ({ info }: AttentionOperand, b: number, h: number, i: number, j: number): number =>
  info.offset + b * info.strides[0]! + h * info.strides[1]! + i * info.strides[2]! + j * info.strides[3]!;

/** scale·(q_i·k_j) + mask_ij for one query row i of head (b, h), into `scores` [Lk]. */
function scoreRow(q: AttentionOperand, k: AttentionOperand, mask: AttentionOperand | null, scale: number, b: number, h: number, i: number, scores: Float64Array): void {
  const d = q.info.shape[3]!, lk = k.info.shape[2]!;
  for (let j = 0; j < lk; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += q.values[at(q, b, h, i, t)]! * k.values[at(k, b, h, j, t)]!;
    scores[j] = scale * s + (mask ? mask.values[at(mask, b, h, i, j)]! : 0);
  }
}

/**
 * out[b, h, i] = Σ_j p_ij·v_j with p_i = softmax(scores_i); rowMax/rowSum[b, h, i] = max_j scores_ij and
 * Σ_j exp(scores_ij − max). Outputs contiguous: out [B, H, Lq, e], rowMax and rowSum [B, H, Lq].
 */
export function attentionKernel(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, mask: AttentionOperand | null, scale: number,
  out: TypedArray, rowMax: TypedArray, rowSum: TypedArray): void {
  const [nb, nh, lq] = q.info.shape as [number, number, number], lk = k.info.shape[2]!, e = v.info.shape[3]!;
  const scores = new Float64Array(lk);
  for (let b = 0; b < nb; b++) {
    for (let h = 0; h < nh; h++) {
      for (let i = 0; i < lq; i++) {
        scoreRow(q, k, mask, scale, b, h, i, scores);
        let max = -Infinity, sum = 0;
        for (let j = 0; j < lk; j++) max = Math.max(max, scores[j]!);
        for (let j = 0; j < lk; j++) sum += (scores[j] = Math.exp(scores[j]! - max));
        const row = (b * nh + h) * lq + i;
        rowMax[row] = max;
        rowSum[row] = sum;
        for (let c = 0; c < e; c++) {
          let s = 0;
          for (let j = 0; j < lk; j++) s += scores[j]! * v.values[at(v, b, h, j, c)]!;
          out[row * e + c] = s / sum;
        }
      }
    }
  }
}

/**
 * The VJP from the saved row statistics, with P recomputed (p_ij = exp(s_ij − max_i)/sum_i):
 *   dv = Pᵀ·dO,  dP = dO·vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),  dq = scale·dS·k,  dk = scale·dSᵀ·q.
 * gOut [B, H, Lq, e] strided; dq [B, H, Lq, d], dk [B, H, Lk, d], dv [B, H, Lk, e] contiguous and zeroed.
 */
export function attentionBackwardKernel(q: AttentionOperand, k: AttentionOperand, v: AttentionOperand, mask: AttentionOperand | null, scale: number,
  rowMax: TypedArray, rowSum: TypedArray, gOut: AttentionOperand, dq: TypedArray, dk: TypedArray, dv: TypedArray): void {
  const [nb, nh, lq, d] = q.info.shape as [number, number, number, number], lk = k.info.shape[2]!, e = v.info.shape[3]!;
  const p = new Float64Array(lk), dp = new Float64Array(lk);
  for (let b = 0; b < nb; b++) {
    for (let h = 0; h < nh; h++) {
      const head = b * nh + h;
      for (let i = 0; i < lq; i++) {
        const row = head * lq + i;
        scoreRow(q, k, mask, scale, b, h, i, p);
        for (let j = 0; j < lk; j++) p[j] = Math.exp(p[j]! - rowMax[row]!) / rowSum[row]!;
        let dot = 0;
        for (let j = 0; j < lk; j++) {
          let s = 0;
          for (let c = 0; c < e; c++) {
            const g = gOut.values[at(gOut, b, h, i, c)]!;
            s += g * v.values[at(v, b, h, j, c)]!;
            dv[(head * lk + j) * e + c]! += p[j]! * g;
          }
          dp[j] = s;
          dot += p[j]! * s;
        }
        for (let j = 0; j < lk; j++) {
          const ds = scale * p[j]! * (dp[j]! - dot);
          for (let t = 0; t < d; t++) {
            dq[row * d + t]! += ds * k.values[at(k, b, h, j, t)]!;
            dk[(head * lk + j) * d + t]! += ds * q.values[at(q, b, h, i, t)]!;
          }
        }
      }
    }
  }
}
