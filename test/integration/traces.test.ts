/**
 * Traces on the real system. With an in-memory exporter installed (what OTLP export would send),
 * a REST task submitted with a client's `traceparent` yields one trace in that client's trace id:
 * request span → GraphQL operation → StartWorkflow → RunWorkflow → RunActivity (the agent), and
 * a webhook delivery attempt (started when the task's end announces the event) continues that
 * trace and sends the receiver (a real HTTP server) a `traceparent` naming the attempt's client span. With tracing off (the default, or OTEL_TRACES_EXPORTER=none) nothing is
 * installed, no span is recorded, receivers get no `traceparent` and a collector gets nothing.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { newId } from '../../src/ids.js';
import { activeTracing, installTracing } from '../../src/tracing.js';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { restClient, waitFor } from '../helpers/client.js';
import { executeBody } from '../helpers/fixtures.js';
import { startTestSystem, type TestSystem } from '../helpers/system.js';

/** Records every request (a webhook receiver, or an OTLP collector) and answers 200. */
async function recorder(host: string) {
  const received: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push({ path: req.url ?? '/', headers: req.headers });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const port = (server.address() as AddressInfo).port;
  return { received, url: (path: string) => `http://${host}:${port}${path}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const webhookEnv = {
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOWED_PRIVATE_CIDRS: '127.0.0.2/32',
  WEBHOOK_SECRET_KEY: 'test-webhook-encryption-key-0123456789',
  // Deliveries are started when announced; the sweep (which would start a trace of its own) stays out of the way.
  WEBHOOK_SWEEP_SECONDS: '60',
};

/** Submits a task with a `traceparent` to a project with a task.completed webhook; resolves with the delivery request. */
async function submitAndDeliver(sys: TestSystem, receiver: Awaited<ReturnType<typeof recorder>>, traceparent: string) {
  const user = await sys.createUser('Tracer');
  const api = restClient(sys.url, user.apiKey);
  const project = await sys.services.db.project.create({ data: { id: newId('project'), ownerId: user.userId, name: 'traced' } });
  const hook = await api.post('/v1/webhooks', { project_id: project.id, url: receiver.url('/hook'), events: ['task.completed'] });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  const started = await api.post('/v1/agents/execute', executeBody(), { traceparent });
  expect(started.status, JSON.stringify(started.body)).toBe(202);
  return waitFor(async () => receiver.received.find((r) => r.path === '/hook'), 60_000);
}

const EXECUTE = 'mutation TracedExecute($input: ExecuteAgentTaskInput!) { executeAgentTask(input: $input) { task { id } } }';
const TASK = { task: 'Review this code for security vulnerabilities', agentType: 'security_expert', context: { files: [{ path: 'a.js', content: 'eval(x)' }] } };

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

/** The span and its ancestors among the recorded spans, nearest first. */
function ancestry(spans: ReadableSpan[], span: ReadableSpan): ReadableSpan[] {
  const chain = [span];
  for (let p = parentOf(span); p; ) {
    const parent = spans.find((s) => s.spanContext().spanId === p);
    if (!parent) break;
    chain.push(parent);
    p = parentOf(parent);
  }
  return chain;
}

describe('tracing off (the default)', () => {
  it('installs nothing, records no span, sends no traceparent and exports nothing', async () => {
    expect(loadConfig({}).traces).toBeNull();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).traces?.url).toBe('http://collector:4318/v1/traces');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).traces).toBeNull();
    const collector = await recorder('127.0.0.1');
    const receiver = await recorder('127.0.0.2');
    // An endpoint is set but the exporter is `none`: tracing stays off, the collector must hear nothing.
    const sys = await startTestSystem({ env: { ...webhookEnv, OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: collector.url('') } });
    try {
      expect(activeTracing()).toBeNull();
      const delivered = await submitAndDeliver(sys, receiver, '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
      expect(delivered.headers.traceparent).toBeUndefined();
      // No provider: the API's tracer is the no-op one, whose spans record nothing.
      expect(trace.getTracer('probe').startSpan('probe').isRecording()).toBe(false);
    } finally {
      await sys.close();
    }
    expect(collector.received).toEqual([]);
    await collector.close();
    await receiver.close();
  });
});

describe('tracing on', () => {
  const exporter = new InMemorySpanExporter();
  let sys: TestSystem | undefined;
  let receiver: Awaited<ReturnType<typeof recorder>>;
  afterAll(async () => {
    await sys?.close();
    await activeTracing()?.shutdown();
    await receiver?.close();
  });

  it('keeps the client trace from the REST request to the agent activity, and sends traceparent to the webhook receiver', async () => {
    const tracing = installTracing(loadConfig({ NODE_ENV: 'test' }), { exporter });
    receiver = await recorder('127.0.0.2');
    sys = await startTestSystem({ env: webhookEnv });
    const clientTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const clientSpan = '00f067aa0ba902b7';
    const delivered = await submitAndDeliver(sys, receiver, `00-${clientTrace}-${clientSpan}-01`);
    await tracing.spanProcessor.forceFlush();

    // The request's trace: the client's id, down to the agent's activity.
    const spans = () => exporter.getFinishedSpans();
    const agentRun = await waitFor(async () => {
      await tracing.spanProcessor.forceFlush();
      return spans().find((s) => s.name.startsWith('RunActivity:') && s.spanContext().traceId === clientTrace && ancestry(spans(), s).some((a) => a.name.startsWith('RunWorkflow:agent')));
    }, 30_000);
    const chain = ancestry(spans(), agentRun).map((s) => s.name);
    const at = (pattern: RegExp) => chain.findIndex((n) => pattern.test(n));
    expect(chain, chain.join(' ← ')).toEqual(expect.arrayContaining([expect.stringMatching(/^RunWorkflow:/), expect.stringMatching(/^StartWorkflow:/)]));
    expect(at(/^RunActivity:/)).toBeLessThan(at(/^RunWorkflow:/));
    expect(at(/^RunWorkflow:/)).toBeLessThan(at(/^StartWorkflow:/));
    expect(at(/^StartWorkflow:/)).toBeLessThan(at(/^graphql mutation /));
    expect(at(/^graphql mutation /)).toBeLessThan(at(/^POST \/v1\/agents\/execute$/));
    const root = ancestry(spans(), agentRun).at(-1)!;
    expect(root.name).toBe('POST /v1/agents/execute');
    expect(parentOf(root)).toBe(clientSpan); // the client's span is the request's parent
    expect(ancestry(spans(), agentRun).every((s) => s.spanContext().traceId === clientTrace)).toBe(true);

    // The webhook attempt: the receiver's traceparent names the attempt's client span.
    const [, traceId, spanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(delivered.headers.traceparent)) ?? [];
    expect(traceId, String(delivered.headers.traceparent)).toBeTruthy();
    const attempt = await waitFor(async () => {
      await tracing.spanProcessor.forceFlush();
      return spans().find((s) => s.spanContext().spanId === spanId);
    }, 10_000);
    expect(attempt.name).toBe('webhook POST');
    expect(attempt.spanContext().traceId).toBe(traceId);
    expect(attempt.attributes['http.response.status_code']).toBe(200);
    // Its delivery span (the dispatcher's attempt 1) and the task's spans end after it: wait for them.
    const attemptChain = await waitFor(async () => {
      await tracing.spanProcessor.forceFlush();
      const names = ancestry(spans(), attempt).map((s) => s.name);
      return names.at(-1) === 'POST /v1/agents/execute' ? names : undefined;
    }, 20_000).catch(() => ancestry(spans(), attempt).map((s) => s.name));
    expect(attemptChain[1], attemptChain.join(' ← ')).toBe('webhook delivery');
    expect(attemptChain, attemptChain.join(' ← ')).toEqual(expect.arrayContaining([expect.stringMatching(/^RunActivity:/), expect.stringMatching(/^RunWorkflow:agent/)]));
    // Announced at the task's end, inside its activity: the delivery continues the request's trace.
    expect(traceId).toBe(clientTrace);
    expect(attemptChain.at(-1)).toBe('POST /v1/agents/execute');
  });

  /** The chain from the first StartWorkflow span in `traceId` up to its root, names only. */
  async function startChain(traceId: string) {
    const tracing = activeTracing()!;
    const start = await waitFor(async () => {
      await tracing.spanProcessor.forceFlush();
      return exporter.getFinishedSpans().find((s) => s.name.startsWith('StartWorkflow:agentTaskWorkflow') && s.spanContext().traceId === traceId);
    }, 30_000);
    const chain = ancestry(exporter.getFinishedSpans(), start);
    return { names: chain.map((s) => s.name), root: chain.at(-1)! };
  }

  it('over /graphql (HTTP): request span → the operation\'s span → StartWorkflow, in the client\'s trace', async () => {
    const user = await sys!.createUser('Tracer HTTP');
    const clientTrace = '5bf92f3577b34da6a3ce929d0e0e4737';
    const res = await fetch(`${sys!.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${user.apiKey}`, traceparent: `00-${clientTrace}-00f067aa0ba902b8-01` },
      body: JSON.stringify({ query: EXECUTE, variables: { input: TASK } }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { data?: unknown };
    expect(body.data, JSON.stringify(body)).toBeTruthy();
    const { names, root } = await startChain(clientTrace);
    expect(names, names.join(' ← ')).toEqual(['StartWorkflow:agentTaskWorkflow', 'graphql mutation TracedExecute', 'POST /graphql']);
    expect(parentOf(root)).toBe('00f067aa0ba902b8');
  });

  it('over graphql-ws: the operation\'s span continues the traceparent of the upgrade request or the subscribe message', async () => {
    const user = await sys!.createUser('Tracer WS');
    const upgradeTrace = '6bf92f3577b34da6a3ce929d0e0e4738';
    const messageTrace = '7bf92f3577b34da6a3ce929d0e0e4739';
    const client = createClient({
      url: `${sys!.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols, { headers: { traceparent: `00-${upgradeTrace}-00f067aa0ba902b9-01` } });
        }
      },
      connectionParams: { authorization: `Bearer ${user.apiKey}` },
      retryAttempts: 0,
    });
    try {
      const run = (extensions?: Record<string, unknown>) =>
        new Promise<unknown>((resolve, reject) => {
          let data: unknown;
          client.subscribe({ query: EXECUTE, variables: { input: TASK }, extensions }, { next: (v) => (data = v), error: reject, complete: () => resolve(data) });
        });
      expect(JSON.stringify(await run())).toContain('"task"');
      const fromUpgrade = await startChain(upgradeTrace);
      expect(fromUpgrade.names, fromUpgrade.names.join(' ← ')).toEqual(['StartWorkflow:agentTaskWorkflow', 'graphql mutation TracedExecute']);
      expect(parentOf(fromUpgrade.root)).toBe('00f067aa0ba902b9');

      expect(JSON.stringify(await run({ traceparent: `00-${messageTrace}-00f067aa0ba902ba-01` }))).toContain('"task"');
      const fromMessage = await startChain(messageTrace);
      expect(fromMessage.names).toEqual(['StartWorkflow:agentTaskWorkflow', 'graphql mutation TracedExecute']);
      expect(parentOf(fromMessage.root)).toBe('00f067aa0ba902ba');
    } finally {
      await client.dispose();
    }
  });
});
