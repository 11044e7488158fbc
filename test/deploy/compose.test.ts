/**
 * docker/compose.yaml as Docker Compose itself reads it (`docker compose config`, which needs
 * no engine): the services of a deployment, every image pinned, the shared volumes, and the
 * environment that points each worker at Temporal and the artifact store.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../../activities/projectPaths';
import { workerRoles } from '../../workers/roles';
import { runTirflow } from '../support/cli';

interface ComposeVolume {
  type: string;
  source?: string;
  target: string;
}
interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | null;
  environment?: Record<string, string | null>;
  volumes?: ComposeVolume[];
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  cap_add?: string[];
  security_opt?: string[];
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; capabilities?: string[] }[] } } };
}
interface ComposeModel {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const composeFile = join(projectRoot, 'docker', 'compose.yaml');
const allProfiles = ['--profile', 'gpu', '--profile', 'sglang', '--profile', 'vllm'];

/** `docker compose ... config --format json` of docker/compose.yaml with every profile on. */
async function composeConfig(env: Record<string, string> = {}): Promise<ComposeModel> {
  const result = await execa(
    'docker',
    ['compose', '-f', composeFile, ...allProfiles, 'config', '--format', 'json'],
    // Empty = the file's defaults, whatever the caller's shell exports.
    { reject: false, env: { TEMPORAL_ADDRESS: '', TEMPORAL_NAMESPACE: '', ...env } },
  );
  assert.equal(result.exitCode, 0, `docker compose config failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as ComposeModel;
}

let model: ComposeModel;

before(async () => {
  const version = await execa('docker', ['compose', 'version'], { reject: false });
  assert.equal(
    version.exitCode,
    0,
    '`docker compose` is not available (the docker client or its Compose v2 plugin is missing): ' +
      `run \`bash docker/install-compose.sh\`.\n${String(version.stderr ?? version.message)}`,
  );
  model = await composeConfig();
});

const workerServices = (): [string, ComposeService][] =>
  Object.entries(model.services).filter(([, service]) => service.command?.[0] === 'worker');

function roleOf(service: ComposeService): string | undefined {
  const command = service.command ?? [];
  return command[command.indexOf('--role') + 1];
}

test('the deployment: Temporal on PostgreSQL, its UI, one worker service per role, both inference servers', () => {
  assert.deepEqual(Object.keys(model.services).sort(), [
    'postgresql',
    'reward',
    'rollout',
    'sandbox',
    'sglang',
    'temporal',
    'temporal-ui',
    'trainer',
    'vllm',
  ]);
  const temporal = model.services.temporal!;
  assert.equal(temporal.environment?.DB, 'postgres12');
  assert.equal(
    temporal.environment?.POSTGRES_SEEDS,
    'postgresql',
    'Temporal stores its state in the postgresql service',
  );
  assert.equal(temporal.depends_on?.postgresql?.condition, 'service_healthy');
  assert.equal(model.services['temporal-ui']!.environment?.TEMPORAL_ADDRESS, 'temporal:7233');

  assert.deepEqual(
    workerServices()
      .map(([, s]) => roleOf(s))
      .sort(),
    [...workerRoles].sort(),
  );
});

test('every image is pinned to a version, never latest or untagged', () => {
  const images = Object.entries(model.services).map(
    ([name, service]) => [name, service.image ?? ''] as const,
  );
  for (const [name, image] of images) {
    const tag = /^[^@]+:([^/:@]+)$/.exec(image)?.[1];
    assert.ok(tag, `service ${name}: image "${image}" has no tag`);
    assert.notEqual(tag, 'latest', `service ${name}: image "${image}" is not pinned`);
    assert.match(tag, /\d+\.\d+/, `service ${name}: image "${image}" names no version`);
  }
  // The images the Dockerfiles start from, too.
  const dockerDir = join(projectRoot, 'docker');
  const dockerfiles = readdirSync(dockerDir).filter((f) => f.endsWith('.Dockerfile'));
  assert.deepEqual(dockerfiles.sort(), ['rollout.Dockerfile', 'sandbox.Dockerfile', 'trainer.Dockerfile']);
  for (const file of dockerfiles) {
    const bases = [...readFileSync(join(dockerDir, file), 'utf8').matchAll(/^FROM\s+(\S+)/gm)].map(
      (m) => m[1]!,
    );
    assert.ok(bases.length > 0, `${file} has no FROM`);
    for (const base of bases) {
      assert.match(
        base,
        /^[^:]+:(?!latest\b)[\w.-]*\d+\.\d+[\w.-]*$/,
        `${file}: base image ${base} is not pinned`,
      );
    }
  }
  // Built services name the Dockerfile that makes their image.
  for (const [name, service] of Object.entries(model.services)) {
    if (!service.build) continue;
    assert.ok(dockerfiles.includes(service.build.dockerfile.replace(/^docker\//, '')), `service ${name}`);
    assert.equal(service.build.context, projectRoot, `service ${name} builds from the repository root`);
  }
});

test('every worker finds Temporal and the shared artifact store through the CLI environment', async () => {
  const mounts = (service: ComposeService): Map<string, string> =>
    new Map((service.volumes ?? []).filter((v) => v.type === 'volume').map((v) => [v.source!, v.target]));
  const reference = mounts(model.services.sandbox!);
  assert.deepEqual([...reference.keys()].sort(), ['artifacts', 'datasets', 'models']);
  for (const name of ['artifacts', 'datasets', 'models', 'postgres']) assert.ok(model.volumes?.[name], name);

  for (const [name, service] of workerServices()) {
    const env = service.environment ?? {};
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal:7233', `${name} points at the temporal service`);
    assert.equal(env.TEMPORAL_NAMESPACE, 'default', name);
    assert.deepEqual(mounts(service), reference, `${name} mounts the shared volumes at the same paths`);
    assert.equal(
      env.TIRFLOW_ARTIFACTS,
      reference.get('artifacts'),
      `${name}: artifacts on the shared volume`,
    );
  }
  // SGLang loads each policy from the trainer's exported folder: the same path must exist there.
  assert.equal(mounts(model.services.sglang!).get('artifacts'), reference.get('artifacts'));

  // One variable moves every worker to another Temporal (a cluster elsewhere, Temporal Cloud).
  const moved = await composeConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233' });
  for (const [name, service] of Object.entries(moved.services).filter(
    ([, s]) => s.command?.[0] === 'worker',
  )) {
    assert.equal(service.environment?.TEMPORAL_ADDRESS, 'temporal.internal:7233', name);
  }
});

test('worker commands use options the CLI has; the trainer gets a GPU and the sandbox its capabilities', async () => {
  const help = await runTirflow(['worker', '--help']);
  assert.equal(help.exitCode, 0, help.all);
  for (const [name, service] of workerServices()) {
    for (const flag of (service.command ?? []).filter((arg) => arg.startsWith('--'))) {
      assert.ok(String(help.stdout).includes(flag), `${name}: \`tirflow worker\` has no ${flag} option`);
    }
  }
  const gpus = model.services.trainer!.deploy?.resources?.reservations?.devices ?? [];
  assert.ok(gpus.some((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu')));
  const sandbox = model.services.sandbox!;
  assert.ok(sandbox.cap_add?.includes('SYS_ADMIN'), 'bwrap mounts and makes namespaces');
  assert.ok(sandbox.security_opt?.includes('seccomp=unconfined'));
});
