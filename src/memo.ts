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
