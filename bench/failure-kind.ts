/** What a benchmark's guard for steadfetch's errors tells apart: the built package's `isSteadfetchError`. */
type IsSteadfetchError = (
	error: unknown,
) => error is Error & { readonly status?: number | undefined; readonly stopReason?: string | undefined };

/**
What a failed call ended in: the status and steadfetch's stop reason, or the error's name (with the status of an SDK's
or ky's error). Made with the guard of the package a benchmark measures, the built one.
*/
export const failureKindOf =
	(isSteadfetchError: IsSteadfetchError) =>
	(error: unknown): string => {
		if (isSteadfetchError(error)) {
			return [error.status ?? error.name, error.stopReason].filter(Boolean).join(' ');
		}
		if (error instanceof Error) {
			const status = (error as { response?: { status?: number } }).response?.status;
			return status ? `${status} ${error.name}` : error.name;
		}
		return typeof error;
	};
