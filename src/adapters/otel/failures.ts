import { diag } from '@opentelemetry/api';

/*
Telemetry never throws into the application: OpenTelemetry's own rule, and ours. A tracer whose `startSpan` throws, a
counter whose `add` throws, an exporter that throws from a SimpleSpanProcessor's `span.end()`: each would reach the
engine's publish, or the request's send, and fail or crash a call that went fine. Every listener, hook and callback of
`steadfetch/otel` catches its own exceptions and reports them through the OpenTelemetry diagnostics logger (`diag`,
silent until `diag.setLogger(...)`, as for every instrumentation), the first one only: a broken exporter fails on every
call.
*/

/** A reporter for one part of `steadfetch/otel`: it tells `diag` of the first failure, and of no later one. */
export function reportOnce(what: string): (error: unknown) => void {
	let told = false;
	return (error) => {
		if (!told) {
			told = true;
			diag.error(
				`steadfetch/otel: ${what} threw; the call goes on, its telemetry may be incomplete. Later failures are not reported.`,
				error,
			);
		}
	};
}
