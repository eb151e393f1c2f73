// The clients compared, each configured alike: `retries` retries after a failure, `delayMs` between them, a GET of a
// small JSON body that must be parsed, and a rejection for a failing status. Raw fetch and undici.request do not retry:
// they are the floor.
import axios from 'axios';
import axiosRetry from 'axios-retry';
import fetchRetry from 'fetch-retry';
import got from 'got';
import ky from 'ky';
import { ofetch } from 'ofetch';
import { request } from 'undici';
import { createClient, createFetch } from '../src/index.ts';

export type Call = (url: string) => Promise<unknown>;
export interface Contender {
	readonly name: string;
	readonly make: (retries: number, delayMs: number) => Call;
}

const json = async (response: Response): Promise<unknown> => {
	if (!response.ok) {
		await response.body?.cancel();
		throw new Error(`status ${response.status}`);
	}
	return response.json();
};

export const contenders: readonly Contender[] = [
	{ name: 'fetch', make: () => async (url) => json(await fetch(url)) },
	{
		name: 'undici.request',
		make: () => async (url) => {
			const { statusCode, body } = await request(url);
			const data = await body.json();
			if (statusCode >= 400) {
				throw new Error(`status ${statusCode}`);
			}
			return data;
		},
	},
	{
		name: 'ky',
		make: (retries, delayMs) => {
			const api = ky.create({ retry: { limit: retries, delay: () => delayMs } });
			return (url) => api.get(url).json();
		},
	},
	{
		name: 'steadfetch client',
		make: (retries, delayMs) => {
			const api = createClient({ retry: { limit: retries, baseDelayMs: delayMs, maxDelayMs: delayMs } });
			return (url) => api.get(url).json();
		},
	},
	{
		name: 'steadfetch fetch',
		make: (retries, delayMs) => {
			const steady = createFetch({ retry: { limit: retries, baseDelayMs: delayMs, maxDelayMs: delayMs } });
			return async (url) => json(await steady(url));
		},
	},
	{
		name: 'got',
		make: (retries, delayMs) => {
			const api = got.extend({ retry: { limit: retries, calculateDelay: ({ computedValue }) => (computedValue ? delayMs : 0) } });
			return (url) => api.get(url).json();
		},
	},
	{
		name: 'axios + axios-retry',
		make: (retries, delayMs) => {
			const api = axios.create();
			axiosRetry(api, { retries, retryDelay: () => delayMs });
			return async (url) => (await api.get(url)).data;
		},
	},
	{
		name: 'ofetch',
		make: (retries, delayMs) => {
			const api = ofetch.create({ retry: retries, retryDelay: delayMs });
			return (url) => api(url);
		},
	},
	{
		name: 'fetch-retry',
		make: (retries, delayMs) => {
			const retrying = fetchRetry(fetch, { retries, retryDelay: delayMs, retryOn: [408, 429, 500, 502, 503, 504] });
			return async (url) => json(await retrying(url));
		},
	},
];
