import type { SteadfetchError } from '../types.ts';
import { errorKind } from './base.ts';
import type { CircuitOpenError } from './circuit.ts';
import type { HttpStatusError } from './http.ts';
import type { NetworkError } from './network.ts';
import type { TimeoutError } from './timeout.ts';

/** True for any error steadfetch raised, across realms and duplicate copies of the package. */
export const isSteadfetchError = (value: unknown): value is SteadfetchError => errorKind(value) !== undefined;

/** True for a failing-status error of steadfetch; with `status`, only for that status. */
export const isHttpStatusError = (value: unknown, status?: number): value is HttpStatusError =>
	errorKind(value) === 'http' && (status === undefined || (value as HttpStatusError).status === status);

/** True for steadfetch's `NetworkError` (no response arrived). */
export const isNetworkError = (value: unknown): value is NetworkError => errorKind(value) === 'network';

/** True for steadfetch's `TimeoutError`. */
export const isTimeoutError = (value: unknown): value is TimeoutError => errorKind(value) === 'timeout';

/** True for steadfetch's `CircuitOpenError` (refused without a request by an open circuit breaker). */
export const isCircuitOpenError = (value: unknown): value is CircuitOpenError => errorKind(value) === 'circuit';
