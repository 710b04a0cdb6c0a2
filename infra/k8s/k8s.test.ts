/**
 * The Kubernetes manifests, rendered by kustomize and checked without a cluster: schemas (kubernetes-models,
 * @kubernetes-models/keda, unknown fields included), references between objects, drain timing, and the
 * agreement of the manifests with the origin's configuration and the Dockerfile.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV_NAMES } from '../../origin/src/config.ts';
import { exportedSeriesNames } from '../observability/origin-metrics.ts';
import { render } from './render.ts';
import { type KubeObject, validateObject } from './validate.ts';

const K8S = fileURLToPath(new URL('.', import.meta.url));
const DOCKERFILE = readFileSync(fileURLToPath(new URL('../origin/Dockerfile', import.meta.url)), 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked as plain JSON
type Any = any;

function find(objects: KubeObject[], kind: string, name?: string): Any {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  expect(found, `${kind}/${name ?? '*'}`).toHaveLength(1);
  return found[0];
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

async function expectValid(objects: KubeObject[]): Promise<void> {
  const errors = (await Promise.all(objects.map(validateObject))).flat();
  expect(errors).toEqual([]);
}

/** A copy of infra/k8s to render variants in (relative paths keep working). */
function copyTree(): string {
  const dir = mkdtempSync(join(tmpdir(), 'k8s-'));
  cpSync(K8S, dir, { recursive: true });
  return dir;
}

const rendered = new Map<string, KubeObject[]>();
beforeAll(async () => {
  for (const overlay of ['cpu', 'gpu']) rendered.set(overlay, await render(join(K8S, 'overlays', overlay)));
});

describe.each(['cpu', 'gpu'])('overlay %s', (overlay) => {
  const objects = () => rendered.get(overlay) as KubeObject[];
  const deployment = () => find(objects(), 'Deployment', 'origin');
  const container = () => deployment().spec.template.spec.containers.find((c: Any) => c.name === 'origin');
  const config = (): Record<string, string> => {
    const name = container().envFrom[0].configMapRef.name;
    return find(objects(), 'ConfigMap', name).data;
  };

  it('routes only the API through the ingress: no /metrics, no catch-all (probes and Prometheus stay inside)', () => {
    const ingress = find(objects(), 'Ingress');
    const paths = ingress.spec.rules.flatMap((r: Any) => r.http.paths.map((p: Any) => p.path));
    expect(paths.sort()).toEqual(['/v1/', '/v2/models/']);
  });

  it('renders the expected objects, each valid against the Kubernetes (and KEDA) schemas', async () => {
    expect(
      objects()
        .map((o) => `${o.kind}/${o.metadata?.name}`)
        .sort(),
    ).toEqual(
      [
        `ConfigMap/${container().envFrom[0].configMapRef.name}`,
        'Deployment/origin',
        'Ingress/origin',
        'Namespace/inference',
        'NetworkPolicy/origin-ingress-only',
        'PodDisruptionBudget/origin',
        'ScaledObject/origin',
        'Service/origin',
      ].sort(),
    );
    await expectValid(objects());
    for (const o of objects()) if (o.kind !== 'Namespace') expect(o.metadata?.namespace).toBe('inference');
  });

  it('wires Service, PDB, NetworkPolicy, Ingress and the autoscaler to the Deployment', () => {
    const d = deployment();
    const podLabels = d.spec.template.metadata.labels;
    expect(matches(d.spec.selector.matchLabels, podLabels)).toBe(true);
    const ports: string[] = container().ports.map((p: Any) => p.name);
    const service = find(objects(), 'Service', 'origin');
    expect(matches(service.spec.selector, podLabels)).toBe(true);
    for (const p of service.spec.ports) expect(ports).toContain(p.targetPort);
    expect(
      matches(find(objects(), 'PodDisruptionBudget', 'origin').spec.selector.matchLabels, podLabels),
    ).toBe(true);
    const policy = find(objects(), 'NetworkPolicy', 'origin-ingress-only');
    expect(matches(policy.spec.podSelector.matchLabels, podLabels)).toBe(true);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    for (const rule of policy.spec.ingress) for (const p of rule.ports) expect(ports).toContain(p.port);
    for (const rule of find(objects(), 'Ingress', 'origin').spec.rules) {
      for (const path of rule.http.paths) {
        expect(path.backend.service.name).toBe(service.metadata.name);
        expect(service.spec.ports.map((p: Any) => p.name)).toContain(path.backend.service.port.name);
      }
    }
    const scaled = find(objects(), 'ScaledObject', 'origin');
    expect(scaled.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: d.metadata.name });
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(2); // with PDB maxUnavailable 1, one always serves
    expect(scaled.spec.maxReplicaCount).toBeGreaterThan(scaled.spec.minReplicaCount);
  });

  it('probes the OIP health endpoints on a declared port', () => {
    const c = container();
    const ports: string[] = c.ports.map((p: Any) => p.name);
    expect(c.readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/v2/health/live');
    for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe])
      expect(ports).toContain(probe.httpGet.port);
  });

  it('gives the origin time to drain: grace period > preStop + request deadline + connection close + margin', () => {
    const grace = deployment().spec.template.spec.terminationGracePeriodSeconds * 1000;
    const preStop = container().lifecycle.preStop.sleep.seconds * 1000;
    // The origin's drain (origin/src/server.ts stop()): queued and running requests finish, reach their deadline
    // (ORIGIN_DEFAULT_TIMEOUT_MS) or are cut at ORIGIN_DRAIN_TIMEOUT_MS, then open connections get 10 s to close.
    const drain = Math.min(
      Number(config().ORIGIN_DEFAULT_TIMEOUT_MS),
      Number(config().ORIGIN_DRAIN_TIMEOUT_MS),
    );
    const connectionClose = 10_000;
    expect(drain).toBeGreaterThan(0);
    expect(grace).toBeGreaterThanOrEqual(preStop + drain + connectionClose + 5000);
  });

  it('configures only variables the origin reads, with the port the container and scrape annotations use', () => {
    const known = new Set(Object.values(ENV_NAMES));
    for (const name of Object.keys(config())) expect(known, name).toContain(name);
    const port = Number(config().ORIGIN_PORT);
    expect(container().ports.find((p: Any) => p.name === 'http').containerPort).toBe(port);
    expect(deployment().spec.template.metadata.annotations['prometheus.io/port']).toBe(String(port));
    expect(DOCKERFILE).toMatch(new RegExp(`^EXPOSE ${port}$`, 'm'));
    const secretRef = container().env.find((e: Any) => e.name === ENV_NAMES.signingSecret).valueFrom
      .secretKeyRef;
    expect(secretRef).toEqual({ name: 'origin-signing', key: 'ORIGIN_SIGNING_SECRET' });
  });

  it('runs as the Dockerfile USER, non-root, read-only, no privilege escalation', () => {
    const pod = deployment().spec.template.spec;
    const users = [...DOCKERFILE.matchAll(/^USER (\d+):(\d+)$/gm)].map((m) => Number(m[1]));
    expect(users.length).toBeGreaterThan(0);
    for (const uid of users) expect(pod.securityContext.runAsUser).toBe(uid);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(container().securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it(`uses the ${overlay} image and execution provider`, () => {
    expect(container().image).toMatch(new RegExp(`^[\\w./-]+/origin:[\\w.-]+-${overlay}$`));
    expect(config().ORIGIN_EXECUTION_PROVIDER).toBe(overlay === 'gpu' ? 'cuda' : 'cpu');
    const pod = deployment().spec.template.spec;
    if (overlay === 'gpu') {
      expect(container().resources.limits['nvidia.com/gpu']).toBe(1);
      expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
      expect(pod.tolerations).toContainEqual({
        key: 'nvidia.com/gpu',
        operator: 'Exists',
        effect: 'NoSchedule',
      });
    } else {
      expect(container().resources.limits['nvidia.com/gpu']).toBeUndefined();
      expect(pod.nodeSelector).toBeUndefined();
    }
  });
});

describe('variants and the secret', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** The cpu overlay rendered from a copy of the tree with one more component (components/<name>) after keda. */
  async function renderCpuWith(component: string): Promise<{ dir: string; objects: KubeObject[] }> {
    const dir = copyTree();
    dirs.push(dir);
    const file = join(dir, 'overlays', 'cpu', 'kustomization.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(
        '  - ../../components/keda',
        `  - ../../components/keda\n  - ../../components/${component}`,
      ),
    );
    return { dir, objects: await render(join(dir, 'overlays', 'cpu')) };
  }

  it('the HPA alternative (prometheus-adapter) renders valid, scales on an exported metric, and replaces KEDA', async () => {
    const dir = copyTree();
    dirs.push(dir);
    const file = join(dir, 'overlays', 'gpu', 'kustomization.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8')
        .replace('../../components/keda', '../../components/hpa')
        .replace(/^patches:[\s\S]*$/m, ''),
    );
    const objects = await render(join(dir, 'overlays', 'gpu'));
    await expectValid(objects);
    expect(objects.some((o) => o.kind === 'ScaledObject')).toBe(false);
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'origin');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'origin' });
    for (const m of hpa.spec.metrics) expect(exportedSeriesNames()).toContain(m.pods.metric.name);
  });

  it('mounted models (components/models-pvc) point MODEL_REPOSITORY at a read-only volume', async () => {
    const { objects } = await renderCpuWith('models-pvc');
    await expectValid(objects);
    const d = find(objects, 'Deployment', 'origin');
    const c = d.spec.template.spec.containers[0];
    const configMap = find(objects, 'ConfigMap', c.envFrom[0].configMapRef.name);
    expect(configMap.data.MODEL_REPOSITORY).toBe('/models');
    expect(c.volumeMounts).toContainEqual({ name: 'models', mountPath: '/models', readOnly: true });
    expect(d.spec.template.spec.volumes).toContainEqual({
      name: 'models',
      persistentVolumeClaim: { claimName: 'origin-models', readOnly: true },
    });
    expect(configMap.data.ORIGIN_EXECUTION_PROVIDER).toBe('cpu'); // the overlay's values survive the merge
  });

  it('scheduled retraining (components/retrain): a CronJob runs npm run retrain on its volume, secrets from a Secret', async () => {
    const { dir, objects } = await renderCpuWith('retrain');
    await expectValid(objects);
    for (const o of objects) if (o.kind !== 'Namespace') expect(o.metadata?.namespace).toBe('inference');
    const cron = find(objects, 'CronJob', 'retrain-spam');
    expect(cron.spec.schedule).toBe('*/15 * * * *');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid'); // one writer of the state file and the volume
    expect(cron.spec.startingDeadlineSeconds).toBeGreaterThan(0);
    const job = cron.spec.jobTemplate.spec;
    expect(job.backoffLimit).toBeLessThanOrEqual(2);
    expect(job.activeDeadlineSeconds).toBeGreaterThanOrEqual(600);
    expect(job.activeDeadlineSeconds).toBeLessThanOrEqual(3600);
    // Exit 2 (gate refused, rolled back) fails the Job without a retry.
    expect(job.podFailurePolicy.rules).toContainEqual({
      action: 'FailJob',
      onExitCodes: { containerName: 'retrain', operator: 'In', values: [2] },
    });
    const pod = job.template.spec;
    expect(pod.restartPolicy).toBe('Never');
    const [c, ...others] = pod.containers;
    expect(others).toEqual([]);
    expect(c.image).toMatch(/^[\w./-]+\/trainer:[\w.-]+$/);
    // The trainer image's CMD (infra/origin/Dockerfile), written out: --s3 and a --root on the mounted volume.
    const cmd = /^FROM \S+ AS trainer$[\s\S]*^CMD (.+)$/m.exec(DOCKERFILE)?.[1] as string;
    expect(c.args).toEqual(JSON.parse(cmd));
    expect(c.args).toContain('--s3');
    const root = c.args[c.args.indexOf('--root') + 1] as string;
    const pvc = find(objects, 'PersistentVolumeClaim', 'retrain-state');
    expect(pvc.spec.accessModes).toEqual(['ReadWriteOnce']);
    const stateVolume = pod.volumes.find((v: Any) => v.persistentVolumeClaim?.claimName === 'retrain-state');
    const stateMount = c.volumeMounts.find((m: Any) => m.name === stateVolume.name);
    expect(root.startsWith(`${stateMount.mountPath}/`)).toBe(true);
    expect(stateMount.readOnly).toBeUndefined();
    // Credentials only by reference to the Secret; the rest from the component's ConfigMap.
    const secretEnv = ['EDGE_ADMIN_KEY', 'MODEL_REGISTRY_ACCESS_KEY_ID', 'MODEL_REGISTRY_SECRET_ACCESS_KEY'];
    for (const name of secretEnv) {
      expect(c.env.find((e: Any) => e.name === name)).toEqual({
        name,
        valueFrom: { secretKeyRef: { name: 'retrain-credentials', key: name } },
      });
    }
    const config = find(objects, 'ConfigMap', c.envFrom[0].configMapRef.name).data;
    expect(Object.keys(config).sort()).toEqual([
      'EDGE_URL',
      'MODEL_REGISTRY_BUCKET',
      'MODEL_REGISTRY_REGION',
      'MODEL_REGISTRY_S3_ENDPOINT',
    ]);
    expect(config.EDGE_URL).toMatch(/^https:\/\//);
    // Non-root as the Dockerfile USER, read-only root filesystem with a writable /tmp for npm.
    const users = [...DOCKERFILE.matchAll(/^USER (\d+):(\d+)$/gm)].map((m) => Number(m[1]));
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: users.at(-1) });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    const tmp = c.volumeMounts.find((m: Any) => m.mountPath === '/tmp');
    expect(pod.volumes.find((v: Any) => v.name === tmp.name).emptyDir).toBeDefined();
    expect(c.env).toContainEqual({ name: 'HOME', value: '/tmp' });
    expect(c.resources.requests).toEqual({ cpu: '2', memory: '2Gi' });
    // Network: the origin's policy leaves the retrain pods alone; their own allows DNS and HTTPS out, nothing in.
    const labels = job.template.metadata.labels;
    const origin = find(objects, 'NetworkPolicy', 'origin-ingress-only');
    expect(matches(origin.spec.podSelector.matchLabels, labels)).toBe(false);
    const egress = find(objects, 'NetworkPolicy', 'retrain-egress-https');
    expect(matches(egress.spec.podSelector.matchLabels, labels)).toBe(true);
    expect(egress.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    expect(egress.spec.ingress).toBeUndefined();
    const ports = egress.spec.egress.flatMap((r: Any) => r.ports.map((p: Any) => `${p.port}/${p.protocol}`));
    expect(ports.sort()).toEqual(['443/TCP', '53/TCP', '53/UDP']);

    // The Secret, made once from an untracked env file, has exactly the keys the CronJob reads.
    const secretDir = join(dir, 'components', 'retrain', 'secret');
    writeFileSync(
      join(secretDir, 'retrain-credentials.env'),
      secretEnv.map((k) => `${k}=test-${k}`).join('\n'),
    );
    const [secret, ...rest] = await render(secretDir);
    expect(rest).toEqual([]);
    await expectValid([secret as KubeObject]);
    expect(secret).toMatchObject({
      kind: 'Secret',
      metadata: { name: 'retrain-credentials', namespace: 'inference' },
    });
    expect(Object.keys((secret as Any).data).sort()).toEqual([...secretEnv].sort());
  });

  it('the signing Secret renders from an env file with the exact name and key the Deployment reads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'k8s-secret-'));
    dirs.push(dir);
    cpSync(join(K8S, 'secret'), dir, { recursive: true });
    writeFileSync(join(dir, 'origin-signing.env'), `ORIGIN_SIGNING_SECRET=${'ab'.repeat(32)}\n`);
    const objects = await render(dir);
    await expectValid(objects);
    const secret = find(objects, 'Secret', 'origin-signing');
    expect(secret.metadata.namespace).toBe('inference');
    expect(Buffer.from(secret.data.ORIGIN_SIGNING_SECRET, 'base64').toString()).toBe('ab'.repeat(32));
  });

  it.each(['secret', 'components/retrain/secret'])('keeps secret env files out of git (%s)', (folder) => {
    expect(readFileSync(join(K8S, folder, '.gitignore'), 'utf8')).toMatch(/^\*\.env$/m);
  });
});

describe('the renderer', () => {
  it('is kubectl kustomize, kustomize v5', () => {
    const version = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
    expect(version).toMatch(/kustomize version: v5\./i);
  });
});
