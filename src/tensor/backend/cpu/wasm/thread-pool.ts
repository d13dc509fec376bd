// Worker threads that run exported functions of one WebAssembly module on a shared memory, synchronously:
// the caller posts a call per worker into a control block at the start of the memory, runs its own share,
// and waits (Atomics) until every worker has signalled. Node only; elsewhere `ThreadPool.create` returns null.

/** Int32 slots of the control block at byte 0 of the shared memory. */
const SEQ = 0; // job sequence number, bumped by the caller to start a round; -1 asks workers to exit
const WORKER_BASE = 16; // worker w owns slots WORKER_BASE + w·WORKER_SLOTS …
const WORKER_SLOTS = 32; // [ready/done seq, error flag, function id, param count, params…]
const MAX_PARAMS = WORKER_SLOTS - 4;
export const CONTROL_BLOCK_BYTES = 4096;
export const MAX_WORKERS = Math.floor((CONTROL_BLOCK_BYTES / 4 - WORKER_BASE) / WORKER_SLOTS);

/** The code each worker runs (CommonJS, evaluated by Node's Worker; kept free of imports from this package). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, id, exportNames } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = exportNames.map((n) => instance.exports[n]);
const ctl = new Int32Array(memory.buffer, 0, ${CONTROL_BLOCK_BYTES / 4});
const base = ${WORKER_BASE} + id * ${WORKER_SLOTS};
let seen = Atomics.load(ctl, ${SEQ});
Atomics.store(ctl, base, seen); // ready
Atomics.notify(ctl, base);
for (;;) {
  let spins = 0;
  while (Atomics.load(ctl, ${SEQ}) === seen) {
    if (++spins > 20000) { Atomics.wait(ctl, ${SEQ}, seen, 50); spins = 0; }
  }
  seen = Atomics.load(ctl, ${SEQ});
  if (seen === -1) break;
  try {
    const n = ctl[base + 3];
    const args = [];
    for (let i = 0; i < n; i++) args.push(ctl[base + 4 + i]);
    if (n >= 0) fns[ctl[base + 2]](...args);
    ctl[base + 1] = 0;
  } catch (e) {
    ctl[base + 1] = 1;
  }
  Atomics.store(ctl, base, seen);
  Atomics.notify(ctl, base);
}
`;

interface NodeWorker { unref(): void; terminate(): Promise<number>; on(event: string, fn: (...args: unknown[]) => void): void }
type WorkerCtor = new (source: string, options: { eval: true; workerData: unknown }) => NodeWorker;

/** Node's worker_threads Worker when this runtime has it (synchronously, without a static Node import). */
function nodeWorkerConstructor(): WorkerCtor | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process;
  const mod = proc?.getBuiltinModule?.('node:worker_threads') as { Worker?: WorkerCtor } | undefined;
  return mod?.Worker ?? null;
}

/** One call for one thread: an export (by index into the pool's export list) and its i32 arguments. */
export interface ThreadCall { fn: number; args: number[] }

export class ThreadPool {
  private readonly ctl: Int32Array;
  private seq = 0;
  private closed = false;

  private constructor(memory: WebAssembly.Memory, private readonly workers: NodeWorker[]) {
    this.ctl = new Int32Array(memory.buffer, 0, CONTROL_BLOCK_BYTES / 4);
  }

  /** Number of worker threads (the caller's thread comes on top). */
  get size(): number {
    return this.workers.length;
  }

  /**
   * Starts `count` workers that instantiate `module` on `memory` (which must be shared) and waits until each
   * is ready. Returns null where worker threads are unavailable or a worker does not start within 5 s.
   */
  static create(module: WebAssembly.Module, memory: WebAssembly.Memory, exportNames: string[], count: number): ThreadPool | null {
    const Worker = nodeWorkerConstructor();
    if (!Worker || count <= 0 || !(memory.buffer instanceof SharedArrayBuffer)) return null;
    count = Math.min(count, MAX_WORKERS);
    const ctl = new Int32Array(memory.buffer, 0, CONTROL_BLOCK_BYTES / 4);
    Atomics.store(ctl, SEQ, 0);
    const workers: NodeWorker[] = [];
    for (let id = 0; id < count; id++) {
      Atomics.store(ctl, WORKER_BASE + id * WORKER_SLOTS, -2);
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, id, exportNames } });
      w.unref();
      w.on('error', () => { /* reported through the ready/done protocol (a dead worker never signals) */ });
      workers.push(w);
    }
    for (let id = 0; id < count; id++) {
      const slot = WORKER_BASE + id * WORKER_SLOTS;
      const deadline = Date.now() + 5000;
      while (Atomics.load(ctl, slot) !== 0 && Date.now() < deadline) Atomics.wait(ctl, slot, -2, 50);
      if (Atomics.load(ctl, slot) !== 0) {
        for (const w of workers) void w.terminate();
        return null;
      }
    }
    return new ThreadPool(memory, workers);
  }

  /**
   * Runs calls[0] on the calling thread and calls[1…] on workers 0…, returning when all have finished.
   * `run` is how the calling thread executes its own call.
   */
  runAll(calls: ThreadCall[], run: (call: ThreadCall) => void): void {
    if (this.closed) throw new Error('thread pool: used after close()');
    if (calls.length - 1 > this.workers.length) throw new Error(`thread pool: ${calls.length} calls for ${this.workers.length} workers + caller`);
    const ctl = this.ctl;
    const seq = ++this.seq;
    for (let w = 0; w < calls.length - 1; w++) {
      const call = calls[w + 1]!;
      if (call.args.length > MAX_PARAMS) throw new Error(`thread pool: ${call.args.length} arguments (max ${MAX_PARAMS})`);
      const base = WORKER_BASE + w * WORKER_SLOTS;
      ctl[base + 2] = call.fn;
      ctl[base + 3] = call.args.length;
      for (let i = 0; i < call.args.length; i++) ctl[base + 4 + i] = call.args[i]!;
    }
    // Workers that get no call this round still see the new sequence number and just acknowledge it.
    for (let w = calls.length - 1; w < this.workers.length; w++) ctl[WORKER_BASE + w * WORKER_SLOTS + 3] = -1;
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
    run(calls[0]!);
    let failed = false;
    for (let w = 0; w < this.workers.length; w++) {
      const slot = WORKER_BASE + w * WORKER_SLOTS;
      let spins = 0;
      for (let seen = Atomics.load(ctl, slot); seen !== seq; seen = Atomics.load(ctl, slot)) {
        if (++spins > 2000) Atomics.wait(ctl, slot, seen, 100); // spin briefly, then sleep until notified
      }
      if (ctl[slot + 1] !== 0) failed = true;
    }
    if (failed) throw new Error('thread pool: a worker failed while running its share (out-of-bounds memory access?)');
  }

  /** Stops the workers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.ctl, SEQ, -1);
    Atomics.notify(this.ctl, SEQ);
    for (const w of this.workers) void w.terminate();
  }
}
