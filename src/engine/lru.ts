/**
A map that keeps at most `max` keys: a new key past it forgets one of the least recently used, chosen as Redis chooses,
the least recently used of a few keys sampled at random. A strict LRU has a cliff: calls that rotate over `max + 1`
keys find each one forgotten just before it is used again (measured on the per-origin state: 0.43 requests per call at
256 origins, 3.00 at 257). Sampling degrades gracefully instead, and still keeps a key in steady use. The state a client
keeps per origin, endpoint and rate-limit window, and what `steadfetch/otel` keeps beside it, is bounded by one, so that
a crawler's endless origins cannot grow either.
*/
export class Lru<K, V> {
	readonly #max: number;
	readonly #random: () => number;
	readonly #map = new Map<K, Slot<K, V>>();
	// The keys, for sampling by index; a forgotten key's place takes the last key.
	readonly #slots: Slot<K, V>[] = [];
	#tick = 0;

	/** `random` picks the keys sampled on eviction (the engine's clock's, seeded in specs). */
	constructor(max: number, random: () => number = Math.random) {
		this.#max = max;
		this.#random = random;
	}

	get size(): number {
		return this.#map.size;
	}

	/** The value of `key`, now the most recently used; undefined when it is not kept. */
	get(key: K): V | undefined {
		const slot = this.#map.get(key);
		if (slot === undefined) {
			return undefined;
		}
		slot.used = ++this.#tick;
		return slot.value;
	}

	/** Keep `value` for `key`, as the most recently used. */
	set(key: K, value: V): void {
		const slot = this.#map.get(key);
		if (slot) {
			slot.value = value;
			slot.used = ++this.#tick;
			return;
		}
		if (this.#map.size >= this.#max) {
			this.#forget();
		}
		const added: Slot<K, V> = { key, value, used: ++this.#tick, index: this.#slots.length };
		this.#slots.push(added);
		this.#map.set(key, added);
	}

	/** The entries, in no particular order. */
	*[Symbol.iterator](): Generator<[K, V]> {
		for (const { key, value } of this.#slots) {
			yield [key, value];
		}
	}

	#forget(): void {
		let victim: Slot<K, V> | undefined;
		for (let sample = 0; sample < samples; sample++) {
			const slot = this.#slots[Math.floor(this.#random() * this.#slots.length)];
			if (slot && (!victim || slot.used < victim.used)) {
				victim = slot;
			}
		}
		if (!victim) {
			return;
		}
		const last = this.#slots.pop() as Slot<K, V>;
		if (last !== victim) {
			last.index = victim.index;
			this.#slots[victim.index] = last;
		}
		this.#map.delete(victim.key);
	}
}

// Redis samples 5 keys by default: within a few percent of a true LRU on ordinary traffic, and no cliff.
const samples = 5;

interface Slot<K, V> {
	readonly key: K;
	value: V;
	used: number;
	index: number;
}
