/**
A map that keeps its `max` most recently used keys: a new key past it forgets the least recently used. The state a
client keeps per origin, and what `steadfetch/otel` keeps beside it, is bounded by one, so that a crawler's endless
origins cannot grow either. Map order is insertion order: a key used again moves to the end.
*/
export class Lru<K, V> {
	readonly #max: number;
	readonly #map = new Map<K, V>();

	constructor(max: number) {
		this.#max = max;
	}

	/** The value of `key`, now the most recently used; undefined when it is not kept. */
	get(key: K): V | undefined {
		const value = this.#map.get(key);
		if (value !== undefined) {
			this.#map.delete(key);
			this.#map.set(key, value);
		}
		return value;
	}

	/** Keep `value` for `key`, as the most recently used. */
	set(key: K, value: V): void {
		this.#map.delete(key);
		if (this.#map.size >= this.#max) {
			this.#map.delete(this.#map.keys().next().value as K);
		}
		this.#map.set(key, value);
	}

	/** The entries, least recently used first. */
	[Symbol.iterator](): MapIterator<[K, V]> {
		return this.#map.entries();
	}
}
