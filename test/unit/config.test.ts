import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config', () => {
  it('runs embedded with no environment at all', () => {
    const config = loadConfig({});
    expect(config.embeddedDatabase).toBe(true);
    expect(config.embeddedTemporal).toBe(true);
    // The embedded default is a real PostgreSQL server, so streams use LISTEN/NOTIFY there too.
    expect(config.eventBus).toBe('postgres');
    expect(config.PORT).toBe(8080);
    expect(config.taskQueues).toEqual({ cpu: 'codex-cpu', gpu: 'codex-gpu' });
    expect(config.publicUrl).toBe('http://127.0.0.1:8080');
    // A gpu worker makes as many model calls at once as the model server serves (a hosted API: many).
    expect([config.WORKER_MAX_CONCURRENT_ACTIVITIES, config.MODEL_MAX_CONCURRENCY, config.WORKER_GPU_MAX_CONCURRENT_ACTIVITIES]).toEqual([20, 64, 64]);
    // Several gpu workers share the model server: each takes its part.
    expect(loadConfig({ MODEL_MAX_CONCURRENCY: '8' }).WORKER_GPU_MAX_CONCURRENT_ACTIVITIES).toBe(8);
    expect(loadConfig({ MODEL_MAX_CONCURRENCY: '8', WORKER_GPU_MAX_CONCURRENT_ACTIVITIES: '2' }).WORKER_GPU_MAX_CONCURRENT_ACTIVITIES).toBe(2);
    // WebSocket messages are capped far below ws's own 100 MiB.
    expect([config.WS_MAX_PAYLOAD_BYTES, config.WS_MAX_SUBSCRIPTIONS_PER_SOCKET, config.WS_MAX_SOCKETS_PER_CREDENTIAL, config.WS_MAX_SOCKETS_PER_ADDRESS]).toEqual([1024 * 1024, 100, 50, 100]);
  });

  it('switches to real services and the PostgreSQL event bus when they are configured', () => {
    const config = loadConfig({ DATABASE_URL: 'postgresql://u:p@db:5432/codex', TEMPORAL_ADDRESS: 'temporal:7233' });
    expect(config.embeddedDatabase).toBe(false);
    expect(config.embeddedTemporal).toBe(false);
    expect(config.eventBus).toBe('postgres');
  });

  it.each([
    ['PORT', 'eighty', /^Invalid configuration: PORT must be a port number \(got "eighty"\)$/],
    ['PORT', '70000', /^Invalid configuration: PORT .*70000/],
    ['DATABASE_URL', 'mysql://x', /^Invalid configuration: DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\/ \(got "\[redacted\]"\)$/],
    ['TEMPORAL_ADDRESS', 'http://temporal:7233', /^Invalid configuration: TEMPORAL_ADDRESS must be host:port/],
    ['WORKER_QUEUES', 'cpu,tpu', /^Invalid configuration: WORKER_QUEUES must list cpu and\/or gpu/],
    ['WORKER_GPU_MAX_CONCURRENT_ACTIVITIES', '0', /^Invalid configuration: WORKER_GPU_MAX_CONCURRENT_ACTIVITIES /],
    ['WS_MAX_PAYLOAD_BYTES', '0', /^Invalid configuration: WS_MAX_PAYLOAD_BYTES /],
    ['WS_MAX_SOCKETS_PER_ADDRESS', 'many', /^Invalid configuration: WS_MAX_SOCKETS_PER_ADDRESS must be a whole number/],
    ['RUN_WORKER', 'maybe', /^Invalid configuration: RUN_WORKER must be true or false/],
    ['CODEX_BOOTSTRAP_API_KEY', 'secret123', /^Invalid configuration: CODEX_BOOTSTRAP_API_KEY must look like cdx_sk_.*\[redacted\]/],
  ])('rejects %s=%s with one line naming the variable', (name, value, message) => {
    let error: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
    if (name === 'CODEX_BOOTSTRAP_API_KEY') expect((error as Error).message).not.toContain(value);
  });

  it('rejects a default timeout above the maximum', () => {
    expect(() => loadConfig({ TASK_TIMEOUT_SECONDS: '100', TASK_MAX_TIMEOUT_SECONDS: '50' })).toThrow(/TASK_TIMEOUT_SECONDS must not exceed/);
  });

  it('rejects a webhook claim lease shorter than an attempt can take, and bounds the direct concurrency', () => {
    expect(() => loadConfig({ WEBHOOK_TIMEOUT_MS: '10000', WEBHOOK_CLAIM_LEASE_SECONDS: '14' })).toThrow(/WEBHOOK_CLAIM_LEASE_SECONDS must be at least WEBHOOK_TIMEOUT_MS \+ 5 s \(15 s here\)/);
    expect(loadConfig({ WEBHOOK_TIMEOUT_MS: '10000', WEBHOOK_CLAIM_LEASE_SECONDS: '15' }).WEBHOOK_CLAIM_LEASE_SECONDS).toBe(15);
    expect(loadConfig({}).WEBHOOK_DIRECT_CONCURRENCY).toBe(64);
    expect(() => loadConfig({ WEBHOOK_DIRECT_CONCURRENCY: '0' })).toThrow(/WEBHOOK_DIRECT_CONCURRENCY/);
  });
});

describe('.env.example', () => {
  it('explains every variable the config accepts', async () => {
    const { readFileSync } = await import('node:fs');
    const { configKeys } = await import('../../src/config.js');
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const listed = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect(configKeys.filter((k) => !listed.has(k))).toEqual([]);
  });
});
