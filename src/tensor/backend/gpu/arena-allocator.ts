// Slots carved from a few large arena buffers: every tensor is (arena, offset), and each arena is bound with one fixed
// window size and the tensor's offset as a dynamic offset, so a bind group depends only on which arenas a dispatch
// touches. Arenas are numbered levels: a runner puts an output in the lowest level none of its inputs is in, so the
// same op sequence touches the same arenas every time. The buffer pool recycles slots; this file carves them.

import { sizeClass, type BufferPool } from './buffer-pool.js';

/** One buffer holding many slots. */
export interface Arena<S> {
  /** Small integer naming the arena in bind-group cache keys. */
  readonly id: number;
  /** Its level (OWN_ARENA for a slot too large for the window, alone in its buffer). */
  readonly level: number;
  readonly buffer: S;
  readonly bytes: number;
  /** The size of its bindings: every slot lies within `window` bytes of its offset (offset + window ≤ bytes). */
  readonly window: number;
}

/** `bytes` bytes at `offset` in `arena.buffer` (offset a multiple of 256, so that it can be a dynamic binding offset). */
export interface Slot<S> {
  readonly arena: Arena<S>;
  readonly offset: number;
  readonly bytes: number;
}

interface ArenaState<S> extends Arena<S> {
  /** Bytes of slots it holds (its buffer is this plus the window). */
  capacity: number;
  /** Bytes carved so far, front to back (a slot is never carved twice; the pool recycles slots). */
  carved: number;
  /** Carved slots not yet freed. */
  live: number;
}

/**
 * A slot of `bytes` for a dispatch's output from `pool`: in the lowest arena level that none of the inputs lives in
 * and that has room (a dispatch may not read and write one buffer), or a buffer of its own beyond the window.
 */
export function levelFor<S>(pool: BufferPool<Slot<S>>, bytes: number, window: number, inputs: readonly { buffer: Slot<S> }[]): Slot<S> {
  if (sizeClass(bytes) > window) return pool.acquire(bytes, OWN_ARENA)!;
  for (let level = 0; ; level++) {
    if (inputs.some((a) => a.buffer.arena.level === level)) continue;
    const slot = pool.acquire(bytes, level);
    if (slot) return slot;
  }
}

/** The level of a slot that has a buffer of its own. */
export const OWN_ARENA = 1023;

/**
 * How large arenas are: level 0 holds `capacity` bytes of slots, each next level twice as many up to
 * `maxCapacity` (a small model gets small arenas, a large one few large ones), plus a `window`-sized tail so that the
 * last slot's binding fits.
 */
export interface ArenaSizes {
  capacity: number;
  maxCapacity?: number;
  /** Slots larger than this get a buffer of their own. */
  window: number;
}

/** Carves slots from arenas by level; a slot larger than the window gets an arena of its own; an emptied arena is destroyed. */
export class ArenaAllocator<S> {
  private readonly levels: (ArenaState<S> | undefined)[] = [];
  private nextId = 0;
  /** Arenas alive now, and their bytes. */
  arenas = 0;
  bytes = 0;

  constructor(
    private readonly create: (bytes: number) => S,
    private readonly destroy: (buffer: S) => void,
    readonly sizes: ArenaSizes,
  ) {}

  /** A new slot of `bytes` (a size class, a multiple of 256) in the arena of `level` (OWN_ARENA: its own); null when that arena is full. */
  carve(bytes: number, level: number): Slot<S> | null {
    if (bytes > this.sizes.window || level === OWN_ARENA) return { arena: this.newArena(bytes, bytes, bytes, OWN_ARENA), offset: 0, bytes };
    let arena = this.levels[level];
    if (!arena) {
      const capacity = Math.min(this.sizes.capacity * 2 ** level, Math.max(this.sizes.maxCapacity ?? 0, this.sizes.capacity));
      arena = this.levels[level] = this.newArena(capacity, this.sizes.window, 0, level);
    }
    if (arena.carved + bytes > arena.capacity) return null;
    const slot = { arena, offset: arena.carved, bytes };
    arena.carved += bytes;
    arena.live++;
    return slot;
  }

  /** An arena of its own for an existing buffer (a large upload written before any command uses it). */
  adopt(buffer: S, bytes: number): Slot<S> {
    const arena: ArenaState<S> = { id: this.nextId++, level: OWN_ARENA, buffer, bytes, window: bytes, capacity: bytes, carved: bytes, live: 1 };
    this.arenas++;
    this.bytes += bytes;
    return { arena, offset: 0, bytes };
  }

  /** The slot is gone for good; its arena is destroyed once no slot of it is live. */
  free(slot: Slot<S>): void {
    const arena = slot.arena as ArenaState<S>;
    if (--arena.live > 0) return;
    if (this.levels[arena.level] === arena) this.levels[arena.level] = undefined;
    this.arenas--;
    this.bytes -= arena.bytes;
    this.destroy(arena.buffer);
  }

  /** The arena of a level: `capacity` bytes of slots plus the window; or a slot's own (carved = capacity = its bytes). */
  private newArena(capacity: number, window: number, carved: number, level: number): ArenaState<S> {
    const own = level === OWN_ARENA;
    const bytes = own ? capacity : capacity + window;
    const arena: ArenaState<S> = { id: this.nextId++, level, buffer: this.create(bytes), bytes, window, capacity, carved, live: own ? 1 : 0 };
    this.arenas++;
    this.bytes += bytes;
    return arena;
  }
}
