import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { configKeys, loadConfig, type Config } from '../../src/config.js';
import { WORKER_HEARTBEAT_FILE, WORKER_HEARTBEAT_MS } from '../../src/temporal/worker-heartbeat.js';

interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  env?: Array<{ name: string; value?: string }>;
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  containers: Container[];
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
  volumes?: Array<{ name: string; emptyDir?: object }>;
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    scaleTargetRef?: { apiVersion: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas?: number;
    metrics?: Array<{ type: string; resource?: { name: string } }>;
    ports?: Array<{ name: string; port: number; targetPort: string | number }>;
  };
}

const root = new URL('../../', import.meta.url);
const dir = new URL('deploy/kubernetes/', root);
const read = (url: URL) => readFileSync(url, 'utf8');

const kustomization = parseAllDocuments(read(new URL('kustomization.yaml', dir)))[0].toJS() as { resources: string[] };
const manifests: Manifest[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(read(new URL(file, dir))).map((doc) => {
    expect(doc.errors, file).toEqual([]);
    return doc.toJS() as Manifest;
  }),
);
const find = (kind: string, name: string) => {
  const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return found;
};

const configMap = find('ConfigMap', 'codex-config');
const secret = find('Secret', 'codex-secrets');
const deployments = { gateway: find('Deployment', 'codex-gateway'), 'worker-cpu': find('Deployment', 'codex-worker-cpu'), 'worker-gpu': find('Deployment', 'codex-worker-gpu') };
const migrate = find('Job', 'codex-migrate');
const workloads = { ...deployments, migrate };
const containerOf = (m: Manifest) => m.spec!.template!.spec.containers[0];

/** What the operator fills in for each REPLACE_ME in secret.yaml. */
const operatorSecrets: Record<string, string> = {
  DATABASE_URL: 'postgresql://codex:pw@postgres:5432/codex',
  REDIS_URL: 'redis://redis:6379',
  WEBHOOK_SECRET_KEY: 'k'.repeat(44),
};

/** A container's environment as Kubernetes builds it: envFrom in order, then env over it. */
function environment(container: Container, secrets: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, find('ConfigMap', source.configMapRef.name).data);
    if (source.secretRef) Object.assign(env, find('Secret', source.secretRef.name).stringData, secrets);
  }
  for (const { name, value } of container.env ?? []) {
    expect(value, `${container.name}: ${name} has a literal value`).toBeTypeOf('string');
    env[name] = value!;
  }
  return env;
}
const configOf = (m: Manifest): Config => loadConfig(environment(containerOf(m), operatorSecrets));

/** The image's working directory: where relative DATA_DIR and CACHE_DIR resolve in a container. */
const workdir = /^WORKDIR\s+(\S+)/m.exec(read(new URL('Dockerfile', root)))![1];
const inContainer = (path: string) => posix.resolve(workdir, path);

/** The longest a probe may keep failing before the kubelet acts on it. */
const window = (p: Probe) => (p.initialDelaySeconds ?? 0) + (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);

describe('deploy/kubernetes', () => {
  it('lists every manifest file in kustomization.yaml, each with a name and no namespace', () => {
    const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    for (const m of manifests) {
      expect(m.apiVersion, m.kind).toBeTruthy();
      expect(m.metadata.name, m.kind).toBeTruthy();
      expect(m.metadata.namespace, `${m.kind} ${m.metadata.name} is namespace-agnostic`).toBeUndefined();
    }
  });

  it('puts only config keys in the ConfigMap and the Secret', () => {
    for (const key of [...Object.keys(configMap.data!), ...Object.keys(secret.stringData!)]) expect(configKeys, key).toContain(key);
    expect(secret.data, 'values in stringData, readable and replaceable').toBeUndefined();
    expect(Object.keys(secret.stringData!)).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'WEBHOOK_SECRET_KEY', 'MODEL_API_KEY']));
  });

  it('bakes in no secret: placeholders the config rejects, so an unfilled Secret stops start-up', () => {
    for (const [key, value] of Object.entries(secret.stringData!)) expect([`REPLACE_ME`, ''], key).toContain(value);
    for (const key of Object.keys(operatorSecrets)) {
      expect(secret.stringData![key], key).toBe('REPLACE_ME');
      expect(() => loadConfig({ [key]: secret.stringData![key] }), key).toThrow(new RegExp(key));
    }
    expect(Object.keys(configMap.data!).filter((k) => /KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL|SMTP_URL/.test(k))).toEqual([]);
    expect(JSON.stringify(manifests)).not.toMatch(/cdx_sk_/);
  });

  it.each(Object.keys(workloads))('%s: ConfigMap, Secret and env hold only config keys, with values it accepts', (name) => {
    const container = containerOf(workloads[name as keyof typeof workloads]);
    expect(container.envFrom).toEqual([{ configMapRef: { name: 'codex-config' } }, { secretRef: { name: 'codex-secrets' } }]);
    const env = environment(container, operatorSecrets);
    for (const key of Object.keys(env)) expect(configKeys, `${name} sets ${key}`).toContain(key);
    const config = loadConfig(env);
    expect(config.embeddedDatabase).toBe(false);
    expect(config.embeddedTemporal).toBe(false);
    expect(config.eventBus).toBe('postgres');
    expect(config.STARTUP_RETRY_SECONDS).toBeGreaterThanOrEqual(60);
  });

  it('runs every part from one pinned image, with the commands package.json runs', () => {
    const images = new Set(Object.values(workloads).map((m) => containerOf(m).image));
    expect(images.size, 'migrations match the code they run under').toBe(1);
    const [image] = [...images];
    expect(image).toMatch(/^[\w./-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
    expect(image).not.toMatch(/:latest$/);
    const scripts = (JSON.parse(read(new URL('package.json', root))) as { scripts: Record<string, string> }).scripts;
    expect(containerOf(deployments.gateway).command!.join(' ')).toBe(scripts.start);
    expect(containerOf(deployments['worker-cpu']).command!.join(' ')).toBe(`${scripts.worker} --queues cpu`);
    expect(containerOf(deployments['worker-gpu']).command!.join(' ')).toBe(`${scripts.worker} --queues gpu`);
    expect(containerOf(migrate).command!.at(-1)).toBe(scripts['db:migrate'].split(' ').at(-1));
    for (const m of Object.values(workloads)) expect(existsSync(new URL(containerOf(m).command!.at(m === migrate ? -1 : 3)!, root))).toBe(true);
  });

  it('routes to gateways while GET /v1/health answers 200, and restarts one only when it does not answer at all', () => {
    const gateway = containerOf(deployments.gateway);
    const config = configOf(deployments.gateway);
    expect(config.RUN_WORKER).toBe(false);
    expect(config.HOST).toBe('0.0.0.0');
    const http = gateway.ports!.find((p) => p.name === 'http')!;
    expect(http.containerPort).toBe(config.PORT);
    expect(gateway.readinessProbe!.httpGet).toEqual({ path: '/v1/health', port: 'http' });
    for (const probe of [gateway.livenessProbe!, gateway.startupProbe!]) {
      expect(probe.exec!.command.join(' ')).toContain(`http://127.0.0.1:${config.PORT}/v1/health`);
    }
    // The Service and the disruption budget select the gateway's pods, on its named port.
    const labels = deployments.gateway.spec!.template!.metadata.labels;
    const service = find('Service', 'codex-gateway');
    expect(labels).toMatchObject(service.spec!.selector!);
    expect(service.spec!.ports![0].targetPort).toBe('http');
    expect(labels).toMatchObject(find('PodDisruptionBudget', 'codex-gateway').spec!.selector!.matchLabels!);
  });

  it.each(['worker-cpu', 'worker-gpu'] as const)('%s: probes read the heartbeat file the worker writes under DATA_DIR', (name) => {
    const worker = containerOf(deployments[name]);
    const path = posix.join(inContainer(configOf(deployments[name]).DATA_DIR), WORKER_HEARTBEAT_FILE);
    for (const probe of [worker.readinessProbe!, worker.livenessProbe!, worker.startupProbe!]) {
      const script = probe.exec!.command.join(' ');
      expect(script).toContain(`'${path}'`);
      const maxAge = Number(/<(\d+)\?/.exec(script)![1]);
      expect(maxAge, 'a few missed beats allowed').toBeGreaterThanOrEqual(3 * WORKER_HEARTBEAT_MS);
    }
    expect(worker.ports).toBeUndefined();
  });

  it.each(Object.keys(deployments))('%s: waits out STARTUP_RETRY_SECONDS before liveness, and SHUTDOWN_TIMEOUT_SECONDS before SIGKILL', (name) => {
    const deployment = deployments[name as keyof typeof deployments];
    const container = containerOf(deployment);
    const config = configOf(deployment);
    expect(window(container.startupProbe!)).toBeGreaterThan(config.STARTUP_RETRY_SECONDS);
    // The grace period runs from the start of preStop: its pause comes out of the same budget.
    const preStop = container.lifecycle?.preStop?.exec?.command;
    const pause = preStop ? Number(preStop[1]) : 0;
    if (preStop) expect(preStop[0]).toBe('sleep');
    expect(deployment.spec!.template!.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pause + config.SHUTDOWN_TIMEOUT_SECONDS);
    expect(deployment.spec!.selector!.matchLabels).toEqual(deployment.spec!.template!.metadata.labels);
  });

  it('gives the gateway a preStop pause, so the Service stops routing to it before SIGTERM', () => {
    expect(containerOf(deployments.gateway).lifecycle!.preStop!.exec!.command).toEqual(['sleep', expect.stringMatching(/^\d+$/)]);
  });

  it('autoscales gateways and cpu workers on CPU, each HPA naming a Deployment that exists', () => {
    const hpas = manifests.filter((m) => m.kind === 'HorizontalPodAutoscaler');
    expect(hpas.map((h) => h.spec!.scaleTargetRef!.name).sort()).toEqual(['codex-gateway', 'codex-worker-cpu']);
    for (const hpa of hpas) {
      const target = hpa.spec!.scaleTargetRef!;
      expect(target.apiVersion).toBe('apps/v1');
      expect(find(target.kind, target.name).kind).toBe('Deployment');
      expect(hpa.spec!.metrics).toContainEqual(expect.objectContaining({ type: 'Resource', resource: expect.objectContaining({ name: 'cpu' }) }));
      expect(hpa.spec!.minReplicas).toBeGreaterThanOrEqual(2);
      expect(hpa.spec!.maxReplicas).toBeGreaterThan(hpa.spec!.minReplicas!);
      // Utilisation is relative to the request: without one the HPA cannot compute it.
      expect(containerOf(find(target.kind, target.name)).resources!.requests!.cpu).toBeDefined();
    }
  });

  it('gives the gpu worker a GPU, the gpu queue only and MODEL_BASE_URL', () => {
    const gpu = deployments['worker-gpu'];
    const config = configOf(gpu);
    expect(Number(containerOf(gpu).resources!.limits!['nvidia.com/gpu'])).toBeGreaterThanOrEqual(1);
    expect(config.WORKER_QUEUES).toEqual(['gpu']);
    expect(config.MODEL_BASE_URL).toMatch(/^https?:\/\//);
    expect(configOf(deployments['worker-cpu']).WORKER_QUEUES).toEqual(['cpu']);
    // Gateways refuse model agents without it, so every part sees the same model settings.
    expect(configOf(deployments.gateway).MODEL_BASE_URL).toBe(config.MODEL_BASE_URL);
  });

  it.each(Object.keys(workloads))('%s: runs as the image user, not root, on a read-only filesystem it writes beside', (name) => {
    const pod = workloads[name as keyof typeof workloads].spec!.template!.spec;
    const container = pod.containers[0];
    expect(pod.securityContext!.runAsNonRoot).toBe(true);
    expect(pod.securityContext!.runAsUser, 'the node user of the Dockerfile').toBe(1000);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.resources!.requests).toBeDefined();
    expect(container.resources!.limits!.memory).toBeDefined();
    const mounts = container.volumeMounts!.map((m) => m.mountPath);
    const writable = (path: string) => mounts.some((mount) => path === mount || path.startsWith(`${mount}/`));
    for (const mount of container.volumeMounts!) expect(pod.volumes!.find((v) => v.name === mount.name)?.emptyDir, mount.name).toBeDefined();
    // tsx's compile cache, clones and index snapshots go to the OS temp folder.
    expect(writable('/tmp')).toBe(true);
    if (name === 'migrate') return;
    const config = configOf(workloads[name as keyof typeof workloads]);
    expect(writable(inContainer(config.DATA_DIR)), 'DATA_DIR').toBe(true);
    expect(config.CACHE_DIR, 'CACHE_DIR set: the default is under the read-only home').toBeDefined();
    expect(writable(inContainer(config.CACHE_DIR!)), 'CACHE_DIR (workflow bundles)').toBe(true);
  });
});
