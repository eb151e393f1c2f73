/**
OpenTelemetry spans and metrics for every call and attempt (docs/observing.md); `@opentelemetry/api` is an optional peer.
@module steadfetch/otel
*/

export { type Instrumentation, type InstrumentOptions, instrument } from './instrument.ts';
export { requestAttributes, type UndiciRequestLike } from './request-attributes.ts';
