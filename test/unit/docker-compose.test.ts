import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configKeys, loadConfig } from '../../src/config.js';

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true });
const appServices = ['gateway', 'worker-cpu', 'worker-gpu'];

describe('docker-compose.yml', () => {
  it('has PostgreSQL, Temporal with its own database and Web UI, the gateway and both workers', () => {
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'temporal-db', 'temporal-ui', 'gateway', 'worker-cpu', 'worker-gpu']),
    );
    expect(compose.services.temporal.environment.POSTGRES_SEEDS).toBe('temporal-db');
  });

  it.each(appServices)('%s sets only variables the config accepts, with values it accepts', (name) => {
    const env: Record<string, string> = Object.fromEntries(
      Object.entries(compose.services[name].environment as Record<string, unknown>).map(([k, v]) => [k, String(v).replace(/\$\{(\w+):-([^}]*)\}/g, '$2')]),
    );
    expect(Object.keys(env).length).toBeGreaterThan(3);
    for (const key of Object.keys(env)) expect(configKeys, `${name} sets ${key}`).toContain(key);
    const config = loadConfig(env);
    expect(config.embeddedDatabase).toBe(false);
    expect(config.embeddedTemporal).toBe(false);
  });

  it('gives the gpu worker an NVIDIA device and the gpu queue only', () => {
    const gpu = compose.services['worker-gpu'];
    expect(gpu.deploy.resources.reservations.devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    expect(loadConfig({ WORKER_QUEUES: gpu.environment.WORKER_QUEUES }).WORKER_QUEUES).toEqual(['gpu']);
    expect(gpu.command).toEqual(['npm', 'run', 'worker', '--', '--queues', 'gpu']);
  });
});
