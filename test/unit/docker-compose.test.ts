import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configKeys, loadConfig } from '../../src/config.js';
import { WORKER_HEARTBEAT_FILE } from '../../src/temporal/worker-heartbeat.js';

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, unknown>;
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string[] };
  restart?: string;
  profiles?: string[];
  ports?: string[];
  volumes?: string[];
  deploy?: { resources: { reservations: { devices: Array<Record<string, unknown>> } } };
}

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const composeText = read('docker-compose.yml');
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const appServices = ['gateway', 'worker-cpu', 'worker-gpu'];
const oneShots = ['temporal-schema', 'temporal-namespace'];
const longRunning = Object.keys(services).filter((name) => !oneShots.includes(name));
const internalDatabases = ['postgres', 'temporal-db'];
const dockerfile = read('Dockerfile');

/** What the operator puts in .env for `docker compose up` (the variables compose requires). */
const operatorEnv: Record<string, string> = { WEBHOOK_SECRET_KEY: 'k'.repeat(44), MODEL_BASE_URL: 'http://vllm:8000/v1' };

/** Compose's interpolation of ${VAR}, ${VAR:-default} and ${VAR:?message}. */
function interpolate(value: unknown, env: Record<string, string>): string {
  return String(value).replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_all, name: string, op?: string, arg?: string) => {
    if (env[name]) return env[name];
    if (op === '?') throw new Error(`compose would refuse to start: ${name} is required (${arg})`);
    return op === '-' ? (arg ?? '') : '';
  });
}

/** Every ${...} in a service's environment, with its variable and its operator. */
function references(service: Service) {
  return Object.entries(service.environment ?? {}).flatMap(([key, value]) =>
    [...String(value).matchAll(/\$\{(\w+)(?::([-?])([^}]*))?\}/g)].map((m) => ({ key, variable: m[1], op: m[2] ?? '', arg: m[3] ?? '' })),
  );
}

/** [major, minor, patch] of a version such as 24.19.0; missing parts are 0. */
const parseVersion = (v: string) => v.split('.').map(Number).concat([0, 0, 0]).slice(0, 3) as [number, number, number];
const compare = (a: number[], b: number[]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** Whether `version` satisfies an npm range made of `^X.Y`, `>=X.Y` and `X.Y.Z` alternatives (all engines uses). */
function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  return range.split('||').some((part) => {
    const alt = part.trim();
    const m = /^(\^|>=)?(\d+(?:\.\d+){0,2})$/.exec(alt);
    if (!m) throw new Error(`unsupported range in engines: ${alt}`);
    const floor = parseVersion(m[2]);
    if (m[1] === '>=') return compare(v, floor) >= 0;
    if (m[1] === '^') return v[0] === floor[0] && compare(v, floor) >= 0;
    return compare(v, floor) === 0;
  });
}

describe('docker-compose.yml', () => {
  it('has PostgreSQL, Temporal with its own database, schema setup and Web UI, Redis, the gateway and both workers', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgres', 'temporal', 'temporal-db', 'temporal-schema', 'temporal-namespace', 'temporal-ui', 'redis', 'gateway', 'worker-cpu', 'worker-gpu']),
    );
    expect(services.temporal.environment!.POSTGRES_SEEDS).toBe('temporal-db');
  });

  it.each(appServices)('%s sets only variables the config accepts, with values it accepts', (name) => {
    const env: Record<string, string> = Object.fromEntries(Object.entries(services[name].environment!).map(([k, v]) => [k, interpolate(v, operatorEnv)]));
    expect(Object.keys(env).length).toBeGreaterThan(3);
    for (const key of Object.keys(env)) expect(configKeys, `${name} sets ${key}`).toContain(key);
    const config = loadConfig(env);
    expect(config.embeddedDatabase).toBe(false);
    expect(config.embeddedTemporal).toBe(false);
    expect(config.STARTUP_RETRY_SECONDS).toBeGreaterThanOrEqual(60);
  });

  it('uses maintained Temporal images: the server, with its schema set up by the admin tools of the same version', () => {
    for (const [name, s] of Object.entries(services)) expect(s.image ?? '', name).not.toMatch(/auto-setup/);
    const server = services.temporal.image!;
    const adminTools = [services['temporal-schema'].image!, services['temporal-namespace'].image!];
    expect(server).toMatch(/^temporalio\/server:/);
    for (const image of adminTools) expect(image).toBe(server.replace('temporalio/server', 'temporalio/admin-tools'));
    expect(services.temporal.depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
    expect(services['temporal-namespace'].depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
    expect(services.temporal.environment).toMatchObject({ DB: 'postgres12', DB_PORT: 5432, POSTGRES_USER: 'temporal', BIND_ON_IP: '0.0.0.0' });
    expect(services.temporal.healthcheck!.test).toEqual(['CMD', 'temporal', 'operator', 'cluster', 'health', '--address', '127.0.0.1:7233']);
  });

  it('sets up both Temporal databases with temporal-sql-tool and registers the namespace, from scripts in the repository', () => {
    for (const name of [...oneShots, 'temporal']) {
      for (const volume of services[name].volumes ?? []) {
        const source = volume.split(':')[0];
        expect(existsSync(new URL(`../../${source}`, import.meta.url)), `${name} mounts ${source}`).toBe(true);
        expect(volume, 'mounted read-only').toMatch(/:ro$/);
      }
    }
    const setup = read('docker/temporal/setup-schema.sh');
    expect(services['temporal-schema'].entrypoint).toEqual(['/bin/sh', '/setup-schema.sh']);
    expect(setup).toMatch(/temporal-sql-tool --plugin postgres12/);
    for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema -d "$schema"']) expect(setup).toContain(step);
    expect(setup).toContain('/etc/temporal/schema/postgresql/v12/temporal/versioned');
    expect(setup).toContain('/etc/temporal/schema/postgresql/v12/visibility/versioned');
    expect(setup).toMatch(/for db in temporal temporal_visibility/);
    const namespace = read('docker/temporal/create-namespace.sh');
    expect(namespace).toMatch(/temporal operator namespace describe .*\|\| temporal operator namespace create/s);
    expect(services['temporal-namespace'].environment!.TEMPORAL_NAMESPACE).toBe(services.gateway.environment!.TEMPORAL_NAMESPACE);
  });

  it('pins every image to at least a minor version', () => {
    const images = Object.values(services).flatMap((s) => (s.image ? [s.image] : []));
    images.push(/^FROM\s+(\S+)/m.exec(dockerfile)![1]);
    for (const image of images) expect(image).toMatch(/^[\w./-]+:\d+\.\d+(\.\d+)?(-[\w.-]+)?$/);
    for (const [name, s] of Object.entries(services)) expect(s.image || s.build, `${name} has an image or a build`).toBeTruthy();
  });

  it.each(longRunning)('%s has a healthcheck and restarts unless stopped', (name) => {
    const s = services[name];
    expect(s.healthcheck?.test?.[0]).toMatch(/^CMD(-SHELL)?$/);
    expect(s.healthcheck!.test!.length).toBeGreaterThan(1);
    expect(s.restart).toBe('unless-stopped');
  });

  it.each(oneShots)('%s runs once, retried on failure only', (name) => {
    expect(services[name].restart).toMatch(/^on-failure(:\d+)?$/);
  });

  it('waits for healthy services, and for one-shots to finish, in every depends_on', () => {
    for (const [name, s] of Object.entries(services)) {
      expect(Array.isArray(s.depends_on), `${name}: depends_on lists conditions`).toBe(false);
      for (const [dependency, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(Object.keys(services), `${name} depends on ${dependency}`).toContain(dependency);
        if (oneShots.includes(dependency)) expect(condition, `${name} → ${dependency}`).toBe('service_completed_successfully');
        else {
          expect(condition, `${name} → ${dependency}`).toBe('service_healthy');
          expect(services[dependency].healthcheck, `${dependency} has the healthcheck ${name} waits for`).toBeDefined();
        }
      }
    }
    expect(Object.keys(services.gateway.depends_on!)).toEqual(expect.arrayContaining(['postgres', 'temporal', 'temporal-namespace', 'redis']));
  });

  it('checks worker health through the heartbeat file the worker process writes', () => {
    for (const name of ['worker-cpu', 'worker-gpu']) expect(services[name].healthcheck!.test!.join(' ')).toContain(`/app/.data/${WORKER_HEARTBEAT_FILE}`);
    expect(services.gateway.healthcheck!.test!.join(' ')).toContain('/v1/health');
  });

  it('puts the gpu worker behind a profile, on the gpu queue only, with an NVIDIA device and MODEL_BASE_URL', () => {
    const gpu = services['worker-gpu'];
    expect(gpu.profiles).toEqual(['gpu']);
    expect(gpu.deploy!.resources.reservations.devices[0]).toMatchObject({ driver: 'nvidia', capabilities: ['gpu'] });
    expect(loadConfig({ WORKER_QUEUES: String(gpu.environment!.WORKER_QUEUES) }).WORKER_QUEUES).toEqual(['gpu']);
    expect(gpu.command).toEqual(['node', '--import', 'tsx', 'src/worker.ts', '--queues', 'gpu']);
    expect(references(gpu).find((r) => r.key === 'MODEL_BASE_URL')?.variable).toBe('MODEL_BASE_URL');
    expect(loadConfig({ MODEL_BASE_URL: interpolate(gpu.environment!.MODEL_BASE_URL, operatorEnv) }).MODEL_BASE_URL).toBe(operatorEnv.MODEL_BASE_URL);
    // Compose interpolates every service, enabled or not: a variable required only behind a profile
    // would stop a plain `docker compose up`. The worker refuses to start without it (worker-process test).
    const requiredByDefault = new Set(
      Object.values(services)
        .filter((s) => !s.profiles?.length)
        .flatMap((s) => references(s).filter((r) => r.op === '?').map((r) => r.variable)),
    );
    for (const [name, s] of Object.entries(services)) {
      if (!s.profiles?.length) continue;
      for (const r of references(s).filter((r) => r.op === '?')) expect(requiredByDefault, `${name} requires ${r.variable}`).toContain(r.variable);
    }
    expect(requiredByDefault).not.toContain('MODEL_BASE_URL');
    expect(services['worker-cpu'].profiles).toBeUndefined();
  });

  it('bakes in no secret: keys come from the operator, required or empty by default', () => {
    const secretName = /KEY|SECRET|PASSWORD|PWD|TOKEN/;
    for (const m of composeText.matchAll(/\$\{(\w+):?-([^}]*)\}/g)) {
      if (secretName.test(m[1])) expect(m[2], `default of ${m[1]}`).toBe('');
    }
    for (const name of appServices) {
      for (const [key, value] of Object.entries(services[name].environment!)) {
        if (secretName.test(key)) expect(String(value), `${name}: ${key}`).toMatch(/^\$\{\w+:[-?][^}]*\}$/);
      }
    }
    expect(services.gateway.environment!.CODEX_BOOTSTRAP_API_KEY).toBe('${CODEX_BOOTSTRAP_API_KEY:-}');
    expect(references(services.gateway).find((r) => r.key === 'WEBHOOK_SECRET_KEY')).toMatchObject({ variable: 'WEBHOOK_SECRET_KEY', op: '?' });
    expect(() => interpolate(services.gateway.environment!.WEBHOOK_SECRET_KEY, {})).toThrow(/WEBHOOK_SECRET_KEY is required/);
    expect(JSON.stringify(services)).not.toMatch(/cdx_sk_/);
    // The fixed passwords of the two internal databases are reachable only inside the compose network.
    for (const name of [...internalDatabases, 'redis']) expect(services[name].ports, `${name} publishes no port`).toBeUndefined();
    for (const name of ['temporal', 'temporal-ui']) for (const port of services[name].ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
  });
});

describe('Dockerfile', () => {
  const instructions = dockerfile
    .split('\n')
    .filter((line) => /^[A-Z]+\s/.test(line))
    .map((line) => line.trim());
  const indexOf = (pattern: RegExp) => instructions.findIndex((line) => pattern.test(line));

  it('builds on a Node.js LTS line of 22 or later, the one package.json engines admits', () => {
    const m = /^FROM node:(\d+)\.(\d+)-/.exec(instructions[0]);
    expect(m).not.toBeNull();
    const major = Number(m![1]);
    expect(major).toBeGreaterThanOrEqual(22);
    expect(major % 2, 'even majors are the LTS lines').toBe(0);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(satisfies(`${m![1]}.${m![2]}.0`, engines)).toBe(true);
    expect(satisfies('20.20.0', engines), 'Node 20 reached end of life on 2026-04-30').toBe(false);
  });

  it('installs python3 and git', () => {
    expect(dockerfile).toMatch(/apt-get install[^\n]*(\\\n[^\n]*)*\bpython3\b/);
    expect(dockerfile).toMatch(/apt-get install[^\n]*(\\\n[^\n]*)*\bgit\b/);
  });

  it('installs dependencies from package*.json before copying the source, and generates the client after', () => {
    const copyManifests = indexOf(/^COPY (--\S+ )*package\*\.json/);
    const install = indexOf(/^RUN npm ci\b/);
    const copySource = indexOf(/^COPY (--\S+ )*\. \./);
    const generate = indexOf(/npm run db:generate/);
    expect(copyManifests).toBeGreaterThan(0);
    expect(install).toBeGreaterThan(copyManifests);
    expect(copySource).toBeGreaterThan(install);
    expect(generate).toBeGreaterThan(copySource);
  });

  it('runs as a user that is not root', () => {
    const users = instructions.filter((line) => line.startsWith('USER '));
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^USER\s+(root|0)(:|\s|$)/);
  });

  it('is built without .env files, local data or installed modules (.dockerignore)', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(ignored).toEqual(expect.arrayContaining(['.env', '.env.*', '.data', 'node_modules', 'src/generated', '.git']));
    expect(ignored.indexOf('!.env.example')).toBeGreaterThan(ignored.indexOf('.env.*'));
  });
});
