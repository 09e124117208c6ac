/**
 * Traces (OpenTelemetry): one trace per request, from the HTTP or WebSocket edge through the GraphQL
 * operation, the Temporal client, the workflow and its activities, to the model and webhook calls.
 * Off by default: then no provider is installed, every helper here calls its function straight
 * away (no span object, no context), and Temporal gets none of its tracing interceptors.
 * On (OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint, see src/config.ts), spans go to the collector
 * over OTLP; a `traceparent` header (W3C Trace Context) continues the caller's trace, and our own
 * outgoing calls send one.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { OperationDefinitionNode } from 'graphql';
import type { Config } from './config.js';

/** The installed tracing: what the Temporal worker's workflow-span sink and shutdown need. */
export interface Tracing {
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Flushes what is buffered and uninstalls the provider (helpers become pass-through again). */
  shutdown(): Promise<void>;
}

let installed: Tracing | null = null;
const TRACER = 'codex-gateway';

/** The installed tracing, or null when tracing is off. */
export function activeTracing(): Tracing | null {
  return installed;
}

function samplerOf(config: Pick<Config, 'OTEL_TRACES_SAMPLER' | 'OTEL_TRACES_SAMPLER_ARG'>): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.OTEL_TRACES_SAMPLER_ARG);
  switch (config.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/**
 * Installs the tracer provider (global, with W3C Trace Context propagation), exporting to
 * `options.exporter` span by span when given (tests pass an in-memory one), or in batches to the
 * OTLP endpoint of the config. Idempotent: a second call returns the first installation.
 */
export function installTracing(
  config: Pick<Config, 'traces' | 'OTEL_SERVICE_NAME' | 'OTEL_TRACES_SAMPLER' | 'OTEL_TRACES_SAMPLER_ARG'>,
  options: { exporter?: SpanExporter } = {},
): Tracing {
  if (installed) return installed;
  const resource = resourceFromAttributes({ ...config.traces?.resourceAttributes, [ATTR_SERVICE_NAME]: config.OTEL_SERVICE_NAME });
  const spanProcessor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: config.traces?.url, headers: config.traces?.headers }));
  const provider = new NodeTracerProvider({ resource, sampler: samplerOf(config), spanProcessors: [spanProcessor] });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  installed = {
    spanProcessor,
    resource,
    async shutdown() {
      installed = null;
      await provider.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
  return installed;
}

/** Installs tracing when the config turns it on (and none is installed yet); null when it is off. */
export function startTracing(config: Config): Tracing | null {
  return installed ?? (config.traces ? installTracing(config) : null);
}

/**
 * Runs `fn` in a new span (a child of the active one) and ends it when `fn` settles, recording a
 * thrown error. With tracing off it only calls `fn`.
 */
export function inSpan<T>(name: string, kind: SpanKind, attributes: Attributes, fn: (span: Span | null) => Promise<T>): Promise<T> {
  if (!installed) return fn(null);
  return trace.getTracer(TRACER).startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** A GraphQL operation's span name: `graphql mutation ExecuteAgentTask`; `graphql` while the operation is not known yet. */
export function operationSpanName(op: OperationDefinitionNode | null | undefined): string {
  if (!op) return 'graphql';
  return `graphql ${op.operation}${op.name ? ` ${op.name.value}` : ''}`;
}

/** A GraphQL operation span's attributes (OpenTelemetry's GraphQL conventions). */
export function operationSpanAttributes(op: OperationDefinitionNode): Attributes {
  return { 'graphql.operation.type': op.operation, 'graphql.operation.name': op.name?.value ?? '' };
}

/**
 * Runs a GraphQL operation (a query or mutation to its end, a subscription to its start) in its
 * span, a child of the active context or of `parent` when given. With tracing off it only calls `fn`.
 */
export function inOperationSpan<T>(op: OperationDefinitionNode | null | undefined, fn: () => Promise<T>, parent?: Context): Promise<T> {
  if (!installed) return fn();
  const run = () => inSpan(operationSpanName(op), SpanKind.INTERNAL, op ? operationSpanAttributes(op) : {}, fn);
  return parent ? context.with(parent, run) : run();
}

/**
 * An outgoing HTTP call in a client span: `fn` gets the `traceparent` (and `tracestate`) headers to
 * send, and its answer's status is recorded (`statusOf`; 4xx/5xx and no answer mark the span failed).
 * With tracing off, `fn` gets no headers and nothing else happens.
 */
export function httpClientSpan<T>(
  name: string,
  url: string,
  fn: (headers: Record<string, string>) => Promise<T>,
  statusOf: (result: T) => number | null,
): Promise<T> {
  if (!installed) return fn({});
  return inSpan(name, SpanKind.CLIENT, { 'http.request.method': 'POST', 'url.full': redactedUrl(url) }, async (span) => {
    const headers: Record<string, string> = {};
    propagation.inject(context.active(), headers);
    const result = await fn(headers);
    const status = statusOf(result);
    if (status !== null) span!.setAttribute('http.response.status_code', status);
    if (status === null || status >= 400) span!.setStatus({ code: SpanStatusCode.ERROR });
    return result;
  });
}

/** A URL without credentials or query (which can hold tokens), as spans record it. */
function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'invalid-url';
  }
}

/** The context a request's `traceparent` header continues (the root context without one). */
export function contextFromHeaders(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(context.active(), headers);
}

/**
 * The context that the first carrier holding a `traceparent` continues (with its `tracestate`),
 * the root context when none does: carriers are header maps or plain objects (message payloads).
 */
export function contextFromCarriers(...carriers: Array<Record<string, unknown> | null | undefined>): Context {
  const carrier = carriers.find((c) => typeof c?.traceparent === 'string');
  if (!carrier) return ROOT_CONTEXT;
  const { traceparent, tracestate } = carrier;
  return propagation.extract(ROOT_CONTEXT, typeof tracestate === 'string' ? { traceparent, tracestate } : { traceparent });
}

/**
 * Workflow spans come out of Temporal's sandbox shaped by an older SDK (`parentSpanId`,
 * `instrumentationLibrary`); this gives them the fields the installed exporters read.
 */
export function workflowSpanProcessor(target: SpanProcessor): SpanProcessor {
  type Older = ReadableSpan & { parentSpanId?: string; instrumentationLibrary?: ReadableSpan['instrumentationScope'] };
  return {
    onStart: () => {},
    onEnd(span: ReadableSpan) {
      const older = span as Older;
      const { traceId, traceFlags } = span.spanContext();
      const parentSpanContext = span.parentSpanContext ?? (older.parentSpanId ? { traceId, spanId: older.parentSpanId, traceFlags, isRemote: false } : undefined);
      target.onEnd({ ...span, spanContext: () => span.spanContext(), parentSpanContext, instrumentationScope: span.instrumentationScope ?? older.instrumentationLibrary! });
    },
    forceFlush: () => target.forceFlush(),
    shutdown: () => Promise.resolve(),
  };
}

export { SpanKind };
