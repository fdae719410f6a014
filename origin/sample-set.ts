import type { Rng } from '../shared/rng.ts';

/**
 * Peers that may be handed out, kept in an array with an index map, so a
 * random sample costs O(k) for k peers drawn, whatever the swarm's size.
 */
export class SampleSet<T extends { peerId: string }> {
  private readonly items: T[] = [];
  private readonly index = new Map<string, number>();

  get size(): number {
    return this.items.length;
  }

  /** Adds `item`, or puts it in the place of the one with its id. */
  set(item: T): void {
    const i = this.index.get(item.peerId);
    if (i !== undefined) {
      this.items[i] = item;
      return;
    }
    this.index.set(item.peerId, this.items.length);
    this.items.push(item);
  }

  delete(peerId: string): void {
    const i = this.index.get(peerId);
    if (i === undefined) return;
    this.index.delete(peerId);
    const last = this.items.pop() as T;
    if (i < this.items.length) {
      this.items[i] = last;
      this.index.set(last.peerId, i);
    }
  }

  /**
   * Up to `max` distinct items other than `exclude`, in random order: a
   * partial Fisher–Yates over the array, with the swaps kept in a map so
   * nothing of size N is touched. `exclude`, if present, is treated as if
   * moved to the end, out of the drawn range.
   */
  sample(exclude: string, max: number, rng: Rng): T[] {
    const n = this.items.length;
    const self = this.index.get(exclude);
    const pool = self === undefined ? n : n - 1;
    const k = Math.min(max, pool);
    const swapped = new Map<number, number>();
    const at = (i: number) => swapped.get(i) ?? (i === self ? n - 1 : i);
    const out: T[] = [];
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(rng() * (pool - i));
      const picked = at(j);
      swapped.set(j, at(i));
      out.push(this.items[picked] as T);
    }
    return out;
  }
}
