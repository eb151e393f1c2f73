import type { KyInstance } from 'ky';
import { normalizeClientOptions, normalizeFetchOptions } from '../../src/options/normalize.ts';
import type { ClientOptions, FetchOptions } from '../../src/options/options.ts';
import { clientWith } from '../../src/surfaces/client.ts';
import { fetchWith } from '../../src/surfaces/fetch.ts';
import { FakeClock } from './clock.ts';

export { FakeClock };

/** `createClient(options)` on a spec's clock. */
export const clockedClient = (options: ClientOptions, clock: FakeClock): KyInstance => clientWith(normalizeClientOptions(options), clock);

/** `createFetch(options)` on a spec's clock. */
export const clockedFetch = (options: FetchOptions, clock: FakeClock): typeof globalThis.fetch =>
	fetchWith(normalizeFetchOptions(options), clock);
