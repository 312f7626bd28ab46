// Replaces mnemonist's LRU cache in the Lambda bundles (see lib/bundle.ts): the DynamoDB client's
// endpoint-discovery cache, created on every cold start but empty while endpoint discovery is off (the
// default); mnemonist and its iterator helpers weighed 7 KB. The service's own per-instance caches
// use it too (verified tokens in functions/shared/auth.ts, token bindings in functions/shared/store/tokens.ts).
// A Map keeps insertion order, so re-inserting on read makes its first key the least recently used.

export default class LRUCache<K, V> {
  private readonly entries = new Map<K, V>();
  private readonly capacity: number;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  get(key: K): V | undefined {
    if (!this.entries.has(key)) return undefined;
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: K, value: V): this {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    return this;
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }
}
