// Worker threads that run exported functions of one WebAssembly module on a shared memory, synchronously: the caller
// posts a round of tasks into a control block at the start of the memory, and every thread (the caller included)
// takes the next task from a shared counter until none is left, so a thread the OS delays does not hold the others
// up. A task computes a fixed part of the output whichever thread runs it. Node only; elsewhere create() gives null.

/** Int32 slots of the control block at byte 0 of the shared memory. */
const SEQ = 0; // round number, bumped by the caller to start a round; -1 asks workers to exit
const NEXT = 1; // index of the next task to take (Atomics.add)
const COUNT = 2; // tasks in this round
const WORKER_BASE = 16; // worker w's [done round, error flag] at WORKER_BASE + w·WORKER_SLOTS
const WORKER_SLOTS = 2;
const TASK_BASE = 64; // task i: [function id, argument count, arguments…] at TASK_BASE + i·TASK_SLOTS
const TASK_SLOTS = 24;
const MAX_PARAMS = TASK_SLOTS - 2;
export const CONTROL_BLOCK_BYTES = 4096;
/** Tasks one round can hold. */
export const MAX_TASKS = Math.floor((CONTROL_BLOCK_BYTES / 4 - TASK_BASE) / TASK_SLOTS);
export const MAX_WORKERS = Math.floor((TASK_BASE - WORKER_BASE) / WORKER_SLOTS);
/** A task argument replaced, by the thread that runs the task, with that thread's scratch address. */
export const SCRATCH_ARG = -0x80000000;

/** The code each worker runs (CommonJS, evaluated by Node's Worker; kept free of imports from this package). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, id, exportNames, scratch } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = exportNames.map((n) => instance.exports[n]);
const ctl = new Int32Array(memory.buffer, 0, ${CONTROL_BLOCK_BYTES / 4});
const status = ${WORKER_BASE} + id * ${WORKER_SLOTS};
let seen = Atomics.load(ctl, ${SEQ});
Atomics.store(ctl, status, seen); // ready
Atomics.notify(ctl, status);
for (;;) {
  let spins = 0;
  while (Atomics.load(ctl, ${SEQ}) === seen) {
    if (++spins > 20000) { Atomics.wait(ctl, ${SEQ}, seen, 50); spins = 0; }
  }
  seen = Atomics.load(ctl, ${SEQ});
  if (seen === -1) break;
  let failed = 0;
  try {
    const count = ctl[${COUNT}];
    for (let i = Atomics.add(ctl, ${NEXT}, 1); i < count; i = Atomics.add(ctl, ${NEXT}, 1)) {
      const base = ${TASK_BASE} + i * ${TASK_SLOTS};
      const n = ctl[base + 1];
      const args = [];
      for (let k = 0; k < n; k++) { const v = ctl[base + 2 + k]; args.push(v === ${SCRATCH_ARG} ? scratch : v); }
      fns[ctl[base]](...args);
    }
  } catch (e) {
    failed = 1;
  }
  ctl[status + 1] = failed;
  Atomics.store(ctl, status, seen);
  Atomics.notify(ctl, status);
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
  static create(module: WebAssembly.Module, memory: WebAssembly.Memory, exportNames: string[], count: number,
    scratchOf: (thread: number) => number): ThreadPool | null {
    const Worker = nodeWorkerConstructor();
    if (!Worker || count <= 0 || !(memory.buffer instanceof SharedArrayBuffer)) return null;
    count = Math.min(count, MAX_WORKERS);
    const ctl = new Int32Array(memory.buffer, 0, CONTROL_BLOCK_BYTES / 4);
    Atomics.store(ctl, SEQ, 0);
    const workers: NodeWorker[] = [];
    for (let id = 0; id < count; id++) {
      Atomics.store(ctl, WORKER_BASE + id * WORKER_SLOTS, -2);
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, id, exportNames, scratch: scratchOf(id + 1) } });
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
   * Runs every task, on the calling thread and the workers (each takes the next task until none is left), returning
   * when all have finished. `run` is how the calling thread executes a task (SCRATCH_ARG already replaced by
   * `scratch`, the calling thread's scratch address).
   */
  runAll(tasks: ThreadCall[], scratch: number, run: (call: ThreadCall) => void): void {
    if (this.closed) throw new Error('thread pool: used after close()');
    if (tasks.length > MAX_TASKS) throw new Error(`thread pool: ${tasks.length} tasks (max ${MAX_TASKS})`);
    const ctl = this.ctl;
    const seq = ++this.seq;
    tasks.forEach((task, i) => {
      if (task.args.length > MAX_PARAMS) throw new Error(`thread pool: ${task.args.length} arguments (max ${MAX_PARAMS})`);
      const base = TASK_BASE + i * TASK_SLOTS;
      ctl[base] = task.fn;
      ctl[base + 1] = task.args.length;
      for (let k = 0; k < task.args.length; k++) ctl[base + 2 + k] = task.args[k]!;
    });
    ctl[COUNT] = tasks.length;
    Atomics.store(ctl, NEXT, 0);
    Atomics.store(ctl, SEQ, seq);
    Atomics.notify(ctl, SEQ);
    for (let i = Atomics.add(ctl, NEXT, 1); i < tasks.length; i = Atomics.add(ctl, NEXT, 1)) {
      const task = tasks[i]!;
      run({ fn: task.fn, args: task.args.map((v) => (v === SCRATCH_ARG ? scratch : v)) });
    }
    let failed = false;
    for (let w = 0; w < this.workers.length; w++) {
      const slot = WORKER_BASE + w * WORKER_SLOTS;
      let spins = 0;
      for (let seen = Atomics.load(ctl, slot); seen !== seq; seen = Atomics.load(ctl, slot)) {
        if (++spins > 2000) Atomics.wait(ctl, slot, seen, 100); // spin briefly, then sleep until notified
      }
      if (ctl[slot + 1] !== 0) failed = true;
    }
    if (failed) throw new Error('thread pool: a worker failed while running a task (out-of-bounds memory access?)');
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
