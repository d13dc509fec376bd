// Slots carved from shared slabs: the tensors of one size class live side by side in a few large buffers at aligned
// offsets, so a dispatch binds (slab, dynamic offset) and one bind group serves every tensor of the same slabs.
// The buffer pool (buffer-pool.ts) recycles slots; this file only carves them and frees a slab when all its slots died.

/** One buffer holding slots of one size class. */
export interface Slab<S> {
  /** Small integer naming the slab in bind-group cache keys. */
  readonly id: number;
  readonly buffer: S;
  readonly bytes: number;
}

/** `bytes` bytes at `offset` in `slab.buffer` (a multiple of 256, so that it can be a dynamic binding offset). */
export interface Slot<S> {
  readonly slab: Slab<S>;
  readonly offset: number;
  readonly bytes: number;
}

interface SlabState<S> extends Slab<S> {
  /** Bytes carved so far (slots are carved front to back and never carved again). */
  carved: number;
  /** Carved slots not yet freed. */
  live: number;
}

/** A class's first slab aims at this size (a class above it gets one slot); each next slab of the class doubles. */
const SLAB_BYTES = 4 * 2 ** 20;
/** Slabs grow up to this size, so that a class needs few slabs (bind groups are per slab combination). */
const MAX_SLAB_BYTES = 256 * 2 ** 20;
/** At most this many slots in a class's first slab (keeps tiny classes' slabs small). */
const FIRST_SLOTS = 256;

/** Carves slots of a size class from open slabs; destroys a full slab once every slot of it was freed. */
export class SlabAllocator<S> {
  /** Per size class, the slabs that still have room to carve. */
  private readonly open = new Map<number, SlabState<S>[]>();
  /** Per size class, the slot count of its latest slab. */
  private readonly lastSlots = new Map<number, number>();
  private nextId = 0;
  /** Slabs alive now, and their bytes. */
  slabs = 0;
  bytes = 0;

  constructor(
    private readonly create: (bytes: number) => S,
    private readonly destroy: (buffer: S) => void,
  ) {}

  /** A new slot of `bytes` (a size class) in a slab that `avoid` does not reject. */
  carve(bytes: number, avoid?: (slab: Slab<S>) => boolean): Slot<S> {
    let list = this.open.get(bytes);
    if (!list) this.open.set(bytes, list = []);
    let slab = list.find((s) => !avoid?.(s));
    if (!slab) {
      const last = this.lastSlots.get(bytes);
      const first = Math.max(1, Math.min(FIRST_SLOTS, Math.floor(SLAB_BYTES / bytes)));
      const slots = last === undefined ? first : Math.max(last, Math.min(2 * last, Math.floor(MAX_SLAB_BYTES / bytes)));
      this.lastSlots.set(bytes, slots);
      slab = this.newSlab(bytes * slots);
      list.push(slab);
    }
    const slot = { slab, offset: slab.carved, bytes };
    slab.carved += bytes;
    slab.live++;
    if (slab.carved + bytes > slab.bytes) list.splice(list.indexOf(slab), 1);
    return slot;
  }

  /** A slab of its own for an existing buffer (a large upload written before any command uses it). */
  adopt(buffer: S, bytes: number): Slot<S> {
    const slab: SlabState<S> = { id: this.nextId++, buffer, bytes, carved: bytes, live: 1 };
    this.slabs++;
    this.bytes += bytes;
    return { slab, offset: 0, bytes };
  }

  /** The slot is gone for good; its slab is destroyed when it is full and this was its last live slot. */
  free(slot: Slot<S>): void {
    const slab = slot.slab as SlabState<S>;
    if (--slab.live > 0) return;
    const list = this.open.get(slot.bytes);
    const index = list?.indexOf(slab) ?? -1;
    if (index >= 0) list!.splice(index, 1);
    this.slabs--;
    this.bytes -= slab.bytes;
    this.destroy(slab.buffer);
  }

  private newSlab(bytes: number): SlabState<S> {
    this.slabs++;
    this.bytes += bytes;
    return { id: this.nextId++, buffer: this.create(bytes), bytes, carved: 0, live: 0 };
  }
}
