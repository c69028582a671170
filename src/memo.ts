/**
 * Values worked out once and then looked up (compiled patterns, prepared statements, formatted
 * dates), at most `max` of them: when full it forgets everything, and the keys still in use come
 * back with their next look-up. A value `make` throws for is not remembered.
 */
export class Memo<K, V> {
  readonly #values = new Map<K, V>();

  constructor(private readonly max: number) {}

  get(key: K, make: () => V): V {
    const known = this.#values.get(key);
    if (known !== undefined || this.#values.has(key)) return known as V;
    const value = make();
    if (this.#values.size >= this.max) this.#values.clear();
    this.#values.set(key, value);
    return value;
  }
}

/** A count of builds (template sets): what RecentMemo's "recently" is measured in. */
export class Builds {
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** A new build begins. */
  next(): void {
    this.#count += 1;
  }
}

/**
 * A Memo for what builds share (the parsed and compiled template of each source): a value none of
 * the last `keep` builds looked up is forgotten at the next look-up. The plain Memo kept every
 * version of an edited template (its parse tree, its compiled code) until it held `max` values: each
 * edit and reload of one file left ~150 KB in the daemon's heap, and an admin who reloads after
 * each edit reached the 1,000 only after hundreds of edits — 100 MB and more of a 192 MB heap.
 * What a build still uses it looked up, so a reload and the sets built one after another (another
 * context in the same process) still share everything that did not change.
 */
export class RecentMemo<K, V> {
  readonly #values = new Map<K, { readonly value: V; used: number }>();
  #swept = 0;

  constructor(
    private readonly builds: Builds,
    private readonly keep: number,
    private readonly max: number,
  ) {}

  get(key: K, make: () => V): V {
    const now = this.builds.count;
    if (now !== this.#swept) {
      this.#swept = now;
      for (const [k, e] of this.#values) if (now - e.used >= this.keep) this.#values.delete(k);
    }
    const known = this.#values.get(key);
    if (known !== undefined) {
      known.used = now;
      return known.value;
    }
    const value = make();
    if (this.#values.size >= this.max) this.#values.clear();
    this.#values.set(key, { value, used: now });
    return value;
  }

  get size(): number {
    return this.#values.size;
  }
}
