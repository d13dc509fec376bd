// Slots carved from a few large arena buffers: every tensor is (arena, offset), and each arena is bound with one fixed
// window size and the tensor's offset as a dynamic offset, so a bind group depends only on which arenas a dispatch
// touches. The buffer pool (buffer-pool.ts) recycles slots by size class; this file carves them and frees arenas.

/** One buffer holding many slots. */
export interface Arena<S> {
  /** Small integer naming the arena in bind-group cache keys. */
  readonly id: number;
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
 * How large arenas are: the first holds `capacity` bytes of slots, each next one twice its predecessor up to
 * `maxCapacity` (a small model gets small arenas, a large one few large ones), plus a `window`-sized tail so that the
 * last slot's binding fits.
 */
export interface ArenaSizes {
  capacity: number;
  maxCapacity?: number;
  /** Slots larger than this get a buffer of their own. */
  window: number;
}

/** Carves slots from arenas; a slot larger than the window gets an arena of its own; an emptied arena is destroyed. */
export class ArenaAllocator<S> {
  private readonly open: ArenaState<S>[] = [];
  private nextId = 0;
  private nextCapacity: number;
  /** Arenas alive now, and their bytes. */
  arenas = 0;
  bytes = 0;

  constructor(
    private readonly create: (bytes: number) => S,
    private readonly destroy: (buffer: S) => void,
    readonly sizes: ArenaSizes,
  ) {
    this.nextCapacity = sizes.capacity;
  }

  /** A new slot of `bytes` (a size class, a multiple of 256) in an arena that `avoid` does not reject. */
  carve(bytes: number, avoid?: (arena: Arena<S>) => boolean): Slot<S> {
    if (bytes > this.sizes.window) return { arena: this.newArena(bytes, bytes, bytes, false), offset: 0, bytes };
    let arena = this.open.find((a) => !avoid?.(a) && a.carved + bytes <= a.capacity);
    if (!arena) {
      const capacity = this.nextCapacity;
      this.nextCapacity = Math.min(2 * capacity, this.sizes.maxCapacity ?? capacity);
      arena = this.newArena(capacity, this.sizes.window, 0, true);
    }
    const slot = { arena, offset: arena.carved, bytes };
    arena.carved += bytes;
    arena.live++;
    if (arena.carved + 256 > arena.capacity) this.open.splice(this.open.indexOf(arena), 1);
    return slot;
  }

  /** An arena of its own for an existing buffer (a large upload written before any command uses it). */
  adopt(buffer: S, bytes: number): Slot<S> {
    const arena: ArenaState<S> = { id: this.nextId++, buffer, bytes, window: bytes, capacity: bytes, carved: bytes, live: 1 };
    this.arenas++;
    this.bytes += bytes;
    return { arena, offset: 0, bytes };
  }

  /** The slot is gone for good; its arena is destroyed once no slot of it is live. */
  free(slot: Slot<S>): void {
    const arena = slot.arena as ArenaState<S>;
    if (--arena.live > 0) return;
    const index = this.open.indexOf(arena);
    if (index >= 0) this.open.splice(index, 1);
    this.arenas--;
    this.bytes -= arena.bytes;
    this.destroy(arena.buffer);
  }

  /** A shared arena of `capacity` bytes of slots (plus the window), or a slot's own (carved = capacity = its bytes). */
  private newArena(capacity: number, window: number, carved: number, shared: boolean): ArenaState<S> {
    const bytes = shared ? capacity + window : capacity;
    const arena: ArenaState<S> = { id: this.nextId++, buffer: this.create(bytes), bytes, window, capacity, carved, live: shared ? 0 : 1 };
    if (shared) this.open.push(arena);
    this.arenas++;
    this.bytes += bytes;
    return arena;
  }
}
