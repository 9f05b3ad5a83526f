/** A bounded cache that forgets the least recently used entry first (a Map keeps insertion order). */
export class Lru<K, V> {
  #map = new Map<K, V>()
  constructor(readonly capacity: number) {}

  get(key: K): V | undefined {
    const value = this.#map.get(key)
    if (value !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, value)
    }
    return value
  }

  set(key: K, value: V) {
    if (this.capacity <= 0) return
    this.#map.delete(key)
    this.#map.set(key, value)
    if (this.#map.size > this.capacity) this.#map.delete(this.#map.keys().next().value as K)
  }

  clear() {
    this.#map.clear()
  }

  get size() {
    return this.#map.size
  }
}
