// Device buffers recycled by size class. A released buffer is free at once: every later write into it (a dispatch's
// output, an upload's copy) is recorded in the same command stream after the reads, so queue order keeps them apart.
// A captured plan pins the buffers it uses until it is disposed; within the recording, released buffers are reused
// (every write is a recorded command, uploads included, and replays keep their order: reuse is as safe as it was).

/** Rounds a byte count up to its size class (≤ 12.5 % slack above 4 KiB, 256-byte steps below), so loops reuse buffers. */
export function sizeClass(bytes: number): number {
  if (bytes <= 4096) return Math.max(256, Math.ceil(bytes / 256) * 256);
  const step = 2 ** (Math.ceil(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

/** What a pool knows of its buffers. */
export interface PoolStats {
  /** Buffers handed out and not yet released. */
  inUse: number;
  /** Free for reuse, and their bytes. */
  free: number;
  freeBytes: number;
  /** Buffers ever created (reuse keeps this flat in a steady loop). */
  created: number;
  /** Buffers held by captured plans. */
  pinned: number;
  /** Arenas the buffers are slots of, and their bytes (runners that carve slots from arenas). */
  arenas?: number;
  arenaBytes?: number;
}

/** A set of buffers a captured plan keeps alive: none returns to the pool while the plan lives. */
export class Pins<B> {
  readonly buffers = new Set<B>();
  /** Pinned buffers whose owners released them (the pool takes them back when the plan is disposed). */
  readonly released = new Set<B>();
  /**
   * Buffers made before the recording and released during it: held until it ends (the recording may have read them,
   * and a replay would read whatever a reuse wrote there), then pinned if it read them, else recycled.
   */
  readonly heldBack = new Set<B>();
}

/**
 * Buffers of type B (slots of GPU arenas, or of Float32Arrays in the host modes) by size class and group (the arena a
 * runner asks for): take the most recently released free one, or create one.
 */
export class BufferPool<B> {
  /** Free buffers by list key (size class and group). */
  private readonly free = new Map<number, B[]>();
  private readonly doomed: B[] = [];
  /** Free buffers, least recently released first. */
  private readonly freeOrder = new Set<B>();
  private readonly classOf = new Map<B, number>();
  private readonly keyOf = new Map<B, number>();
  private readonly pinnedBy = new Map<B, Pins<B>>();
  private capturing: Pins<B> | null = null;
  private freeBytes = 0;
  private created = 0;
  /** Submissions so far, and when each free buffer was released (in submissions). */
  private submissions = 0;
  private readonly releasedAt = new Map<B, number>();

  constructor(
    /** A new buffer of `bytes` in `group`, or null when the group has no room for it. */
    private readonly create: (bytes: number, group: number) => B | null,
    private readonly destroy: (buffer: B) => void,
    /** Free bytes kept for reuse; beyond this, the least recently released buffers are destroyed. */
    private readonly maxFreeBytes = 2 ** 32,
    /** Submissions a free buffer waits for reuse before it is destroyed. */
    private readonly maxAge = 256,
  ) {}

  /** A buffer of at least `bytes` bytes in `group`: the most recently released one of its class there, else a new one; null when the group is full. */
  acquire(bytes: number, group = 0): B | null {
    const size = sizeClass(bytes);
    const key = size * 1024 + group;
    const reused = this.free.get(key)?.pop();
    let buffer: B;
    if (reused !== undefined) {
      buffer = reused;
      this.freeBytes -= size;
      this.freeOrder.delete(buffer);
      this.releasedAt.delete(buffer);
      this.capturing?.released.delete(buffer);
    }
    else {
      const created = this.create(size, group);
      if (created === null) return null;
      buffer = created;
      this.created++;
      this.classOf.set(buffer, size);
      this.keyOf.set(buffer, key);
    }
    if (this.capturing) {
      this.capturing.buffers.add(buffer);
      this.pinnedBy.set(buffer, this.capturing);
    }
    return buffer;
  }

  /** Gives a buffer back: reusable by the next acquire (a pinned one only when its plan is disposed). */
  release(buffer: B): void {
    const pins = this.pinnedBy.get(buffer);
    if (pins) {
      pins.released.add(buffer);
      // reusable by the recording's later commands (replays keep their order), never by anything after it
      if (pins === this.capturing) this.recycle(buffer);
      return;
    }
    if (this.capturing) { this.capturing.heldBack.add(buffer); return; }
    this.recycle(buffer);
  }

  /** After a recording's reads are pinned: its held-back buffers go to its plan (if it read them) or back to the pool. */
  settleHeldBack(pins: Pins<B>): void {
    // an older plan's buffer never gets here (release hands it to that plan), so a pinned one is pinned by this plan
    for (const buffer of pins.heldBack) {
      if (this.pinnedBy.has(buffer)) pins.released.add(buffer);
      else this.recycle(buffer);
    }
    pins.heldBack.clear();
  }

  /** Back to its size class; over the free-bytes cap the longest-unused free buffers go first (a loop that changed shape frees the old shapes' buffers, not its own). */
  private recycle(buffer: B): void {
    const size = this.classOf.get(buffer)!;
    for (const oldest of this.freeOrder) {
      if (this.freeBytes + size <= this.maxFreeBytes) break;
      this.drop(oldest);
    }
    const key = this.keyOf.get(buffer)!;
    let list = this.free.get(key);
    if (!list) this.free.set(key, list = []);
    list.push(buffer);
    this.freeOrder.add(buffer);
    this.releasedAt.set(buffer, this.submissions);
    this.freeBytes += size;
  }

  /** Takes a free buffer out of the free lists (it stays known to the pool). */
  private withdraw(buffer: B): void {
    const list = this.free.get(this.keyOf.get(buffer)!)!;
    list.splice(list.indexOf(buffer), 1);
    this.freeOrder.delete(buffer);
    this.releasedAt.delete(buffer);
    this.freeBytes -= this.classOf.get(buffer)!;
  }

  /**
   * Takes a free buffer out of the pool; recorded commands may still use it, so it is destroyed after the next
   * submission. A buffer the recording in progress released stays with its plan (the plan's disposal recycles it).
   */
  private drop(buffer: B): void {
    this.withdraw(buffer);
    if (this.pinnedBy.has(buffer)) return;
    this.classOf.delete(buffer);
    this.keyOf.delete(buffer);
    this.doomed.push(buffer);
  }

  /**
   * Call after each submission: destroys what was dropped before it, and drops the free buffers no acquire wanted for
   * `maxAge` submissions (a loop that changed shape frees the old shapes' buffers; a steady loop keeps its own).
   */
  afterSubmission(): void {
    this.destroyDoomed();
    this.submissions++;
    for (const oldest of this.freeOrder) {
      if (this.releasedAt.get(oldest)! > this.submissions - this.maxAge) break;
      this.drop(oldest);
    }
  }

  /** Starts tracking a buffer created outside the pool (a large upload), so that its release recycles it. */
  adopt(buffer: B, bytes: number, group = 0): void {
    this.classOf.set(buffer, bytes);
    this.keyOf.set(buffer, bytes * 1024 + group);
    this.created++;
    if (this.capturing) {
      this.capturing.buffers.add(buffer);
      this.pinnedBy.set(buffer, this.capturing);
    }
  }

  /** From now on every acquired buffer is pinned to `pins` (and so is any later-acquired one until `endPinning`). */
  beginPinning(pins: Pins<B>): void {
    this.capturing = pins;
  }

  /** Ends the recording: the buffers it released and did not reuse leave the free lists and stay with its plan. */
  endPinning(): void {
    const pins = this.capturing;
    this.capturing = null;
    if (!pins) return;
    for (const buffer of pins.released) if (this.freeOrder.has(buffer)) this.withdraw(buffer);
  }

  /** Pins a buffer acquired before the capture began (an input or a weight the plan reads). */
  pin(pins: Pins<B>, buffer: B): void {
    if (this.pinnedBy.has(buffer)) return;
    pins.buffers.add(buffer);
    this.pinnedBy.set(buffer, pins);
  }

  /** Unpins a disposed plan's buffers: those already released return to the pool, the rest to their owners. */
  unpin(pins: Pins<B>): void {
    for (const buffer of pins.buffers) {
      if (this.pinnedBy.get(buffer) !== pins) continue;
      this.pinnedBy.delete(buffer);
      if (pins.released.has(buffer)) this.recycle(buffer);
    }
    pins.buffers.clear();
    pins.released.clear();
  }

  /** Destroys the buffers dropped over the free-bytes cap; call after submitting the commands that may use them. */
  destroyDoomed(): void {
    for (const b of this.doomed) this.destroy(b);
    this.doomed.length = 0;
  }

  /** Destroys every free buffer (memory pressure, shutdown); call after a submission, as destroyDoomed. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        if (this.pinnedBy.has(b)) continue; // released by the recording in progress: its plan keeps it
        this.classOf.delete(b); this.keyOf.delete(b); this.destroy(b);
      }
    }
    this.free.clear();
    this.freeOrder.clear();
    this.releasedAt.clear();
    this.freeBytes = 0;
  }

  stats(inUse: number): PoolStats {
    let free = 0;
    for (const list of this.free.values()) free += list.length;
    return { inUse, free, freeBytes: this.freeBytes, created: this.created, pinned: this.pinnedBy.size };
  }
}

/** A capture in progress: the commands it recorded, the pins on the buffers they use, and any read it had to refuse. */
export class Recording<C, B> {
  readonly commands: C[] = [];
  readonly pins = new Pins<B>();
  private refusedRead: Error | null = null;

  /** Starts recording on `pool` (every buffer acquired from now on is pinned); `current` must be null. */
  static begin<C, B>(current: Recording<C, B> | null, pool: BufferPool<B>): Recording<C, B> {
    if (current) throw new Error('gpu backend: a capture is already recording');
    const recording = new Recording<C, B>();
    pool.beginPinning(recording.pins);
    return recording;
  }

  /** A read during the capture: refused now, and the capture fails when it ends (a swallowed promise cannot hide it). */
  refuseRead(): Error {
    const e = new Error('gpu backend: a captured function cannot read values (a read would end the recording); read the outputs after run()');
    this.refusedRead ??= e;
    return e;
  }

  /** Stops recording; pins every buffer the commands read (`reads`), or throws the refused read. */
  static end<C, B>(current: Recording<C, B> | null, pool: BufferPool<B>, reads: (command: C) => readonly B[]): Recording<C, B> {
    if (!current) throw new Error('gpu backend: endCapture without beginCapture');
    pool.endPinning();
    if (current.refusedRead) {
      pool.settleHeldBack(current.pins);
      pool.unpin(current.pins);
      throw current.refusedRead;
    }
    for (const c of current.commands) for (const b of reads(c)) pool.pin(current.pins, b);
    pool.settleHeldBack(current.pins);
    return current;
  }
}
