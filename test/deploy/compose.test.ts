/**
 * docker/compose.yaml as Docker Compose itself reads it (`docker compose config`, which needs
 * no engine): the services of a deployment, every image pinned, the shared volumes, the
 * environment that points each worker at Temporal and the artifact store, and the hardening:
 * no default password, mTLS for every client of the frontend, nothing published beyond
 * 127.0.0.1 unless asked, Temporal's backends and PostgreSQL on a network with no way out, and
 * a sandbox under its own seccomp profile with no route but to the frontend.
 * What runs on that shape is proven by `npm run test:cluster` (test/cluster/).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { execa } from 'execa';
import { projectRoot } from '../../activities/projectPaths';
import { searchAttributeTypes } from '../../common/searchAttributes';
import { workerRoles } from '../../workers/roles';
import { runTirflow } from '../support/cli';

interface ComposeVolume {
  type: string;
  source?: string;
  target: string;
  read_only?: boolean;
}
interface ComposePort {
  host_ip?: string;
  target: number;
  published?: string;
}
interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  entrypoint?: string[] | null;
  command?: string[] | null;
  environment?: Record<string, string | null>;
  volumes?: ComposeVolume[];
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  cap_add?: string[];
  cap_drop?: string[];
  security_opt?: string[];
  read_only?: boolean;
  runtime?: string;
  restart?: string;
  ports?: ComposePort[];
  networks?: Record<string, unknown>;
  secrets?: { source: string; target: string }[];
  deploy?: {
    resources?: {
      limits?: { cpus?: number | string; memory?: string; pids?: number };
      reservations?: { devices?: { driver?: string; capabilities?: string[] }[] };
    };
  };
}
interface ComposeModel {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean }>;
  secrets?: Record<string, { file: string }>;
}

const composeFile = join(projectRoot, 'docker', 'compose.yaml');
const allProfiles = ['--profile', 'gpu', '--profile', 'sglang', '--profile', 'vllm'];
const password = 'compose-test-password';

/**
 * `docker compose ... config --format json` with every profile on; never rejects. Hermetic: no
 * docker/.env (an operator's real settings), and the variables the file reads are set here or
 * removed (`unset`), whatever the caller's shell exports.
 */
function runComposeConfig(env: Record<string, string>, unset: string[] = []) {
  const base: Record<string, string | undefined> = {
    ...process.env,
    TEMPORAL_ADDRESS: '',
    TEMPORAL_NAMESPACE: '',
    TIRFLOW_FRONTEND_BIND: '',
    TIRFLOW_UI_BIND: '',
    TIRFLOW_SANDBOX_RUNTIME: '',
    POSTGRES_PASSWORD: password,
    ...env,
  };
  for (const name of unset) delete base[name];
  return execa(
    'docker',
    ['compose', '--env-file', '/dev/null', '-f', composeFile, ...allProfiles, 'config', '--format', 'json'],
    { reject: false, env: base, extendEnv: false },
  );
}

async function composeConfig(env: Record<string, string> = {}): Promise<ComposeModel> {
  const result = await runComposeConfig(env);
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
const temporalServices = ['temporal-frontend', 'temporal-history', 'temporal-matching', 'temporal-worker'];

function roleOf(service: ComposeService): string | undefined {
  const command = service.command ?? [];
  return command[command.indexOf('--role') + 1];
}

/** The file a service's secret at `target` comes from (docker/certs/...). */
function secretFile(service: ComposeService, target: string): string | undefined {
  const source = service.secrets?.find((s) => s.target === target)?.source;
  return source === undefined ? undefined : model.secrets?.[source]?.file;
}

test('the deployment: Temporal on PostgreSQL, its UI, one worker service per role, both inference servers', () => {
  assert.deepEqual(Object.keys(model.services).sort(), [
    'postgresql',
    'reward',
    'rollout',
    'sandbox',
    'sglang',
    'temporal-frontend',
    'temporal-history',
    'temporal-matching',
    'temporal-namespace',
    'temporal-schema',
    'temporal-ui',
    'temporal-worker',
    'trainer',
    'vllm',
  ]);
  for (const name of temporalServices) {
    const service = model.services[name]!;
    assert.equal(service.environment?.POSTGRES_SEEDS, 'postgresql', `${name} stores its state in postgresql`);
    assert.equal(service.command?.at(-1), name.replace('temporal-', ''), `${name} runs one Temporal service`);
  }
  assert.equal(model.services['temporal-ui']!.environment?.TEMPORAL_ADDRESS, 'temporal-frontend:7233');
  assert.deepEqual(
    workerServices()
      .map(([, s]) => roleOf(s))
      .sort(),
    [...workerRoles].sort(),
  );
});

test("Temporal runs from the server image after a one-shot schema job, never auto-setup (Temporal's development image)", () => {
  for (const [name, service] of Object.entries(model.services)) {
    assert.doesNotMatch(service.image ?? '', /auto-setup/, `service ${name}`);
  }
  const schema = model.services['temporal-schema']!;
  assert.match(schema.image!, /^temporalio\/admin-tools:1\.29\.1\b/);
  assert.deepEqual(schema.entrypoint, ['sh', '/etc/tirflow/schema.sh']);
  assert.ok(
    schema.volumes?.some((v) => v.source === join(projectRoot, 'docker/temporal/schema.sh')),
    'the schema job runs docker/temporal/schema.sh, the script the cluster tier runs',
  );
  assert.equal(schema.restart, 'on-failure', 'a job: it ends, and is retried only when it fails');
  assert.equal(schema.depends_on?.postgresql?.condition, 'service_healthy');
  const namespace = model.services['temporal-namespace']!;
  assert.deepEqual(namespace.entrypoint, ['sh', '/etc/tirflow/namespace.sh']);
  assert.deepEqual(
    Object.fromEntries(
      (namespace.environment?.SEARCH_ATTRIBUTES ?? '').split(/\s+/).map((pair) => pair.split('=')),
    ),
    searchAttributeTypes,
    "the namespace job registers tirflow's search attributes (common/searchAttributes.ts)",
  );
  for (const name of temporalServices) {
    const service = model.services[name]!;
    assert.equal(service.image, 'temporalio/server:1.29.1', name);
    assert.equal(service.depends_on?.['temporal-schema']?.condition, 'service_completed_successfully', name);
    assert.ok(
      service.volumes?.some((v) => v.source === join(projectRoot, 'docker/temporal/config') && v.read_only),
      `${name} reads docker/temporal/config (the cluster tier's config), read-only`,
    );
    assert.deepEqual(service.entrypoint?.slice(-2), ['--allow-no-auth', 'start'], name);
  }
});

test('compose refuses to start without a PostgreSQL password: there is no default', async () => {
  const empty = await runComposeConfig({ POSTGRES_PASSWORD: '' });
  assert.notEqual(empty.exitCode, 0, 'compose accepted an empty POSTGRES_PASSWORD');
  assert.match(empty.stderr, /required variable POSTGRES_PASSWORD .*there is no default/);
  const unset = await runComposeConfig({}, ['POSTGRES_PASSWORD']);
  assert.notEqual(unset.exitCode, 0, 'compose accepted an unset POSTGRES_PASSWORD');
  assert.match(unset.stderr, /required variable POSTGRES_PASSWORD .*there is no default/);

  // The one password reaches PostgreSQL, the schema job and every Temporal service, and nothing else.
  assert.equal(model.services.postgresql!.environment?.POSTGRES_PASSWORD, password);
  assert.equal(model.services['temporal-schema']!.environment?.SQL_PASSWORD, password);
  for (const name of temporalServices)
    assert.equal(model.services[name]!.environment?.POSTGRES_PWD, password);
  for (const [name, service] of workerServices()) {
    assert.ok(
      !Object.values(service.environment ?? {}).includes(password),
      `${name} holds the database password`,
    );
  }
});

test('the frontend and the UI are published on 127.0.0.1 unless the operator opts in; nothing else is published', async () => {
  const published = Object.entries(model.services).filter(([, s]) => (s.ports ?? []).length > 0);
  assert.deepEqual(published.map(([name]) => name).sort(), ['temporal-frontend', 'temporal-ui']);
  const port = (m: ComposeModel, name: string): ComposePort => m.services[name]!.ports![0]!;
  assert.deepEqual(
    [port(model, 'temporal-frontend').host_ip, port(model, 'temporal-frontend').target],
    ['127.0.0.1', 7233],
  );
  assert.deepEqual(
    [port(model, 'temporal-ui').host_ip, port(model, 'temporal-ui').target],
    ['127.0.0.1', 8080],
  );

  const opened = await composeConfig({ TIRFLOW_FRONTEND_BIND: '10.0.0.5', TIRFLOW_UI_BIND: '10.0.0.6' });
  assert.equal(port(opened, 'temporal-frontend').host_ip, '10.0.0.5');
  assert.equal(port(opened, 'temporal-ui').host_ip, '10.0.0.6');
});

test('PostgreSQL and Temporal history, matching and worker sit on an internal network only the frontend also joins', () => {
  assert.equal(model.networks?.['temporal-internal']?.internal, true, 'temporal-internal has no route out');
  for (const name of [
    'postgresql',
    'temporal-schema',
    'temporal-history',
    'temporal-matching',
    'temporal-worker',
  ]) {
    assert.deepEqual(Object.keys(model.services[name]!.networks ?? {}), ['temporal-internal'], name);
  }
  const members = Object.entries(model.services)
    .filter(([, s]) => 'temporal-internal' in (s.networks ?? {}))
    .map(([name]) => name)
    .sort();
  assert.deepEqual(members, [
    'postgresql',
    'temporal-frontend',
    'temporal-history',
    'temporal-matching',
    'temporal-schema',
    'temporal-worker',
  ]);
});

test('every client of the frontend presents its own certificate from the cluster CA, over mTLS', () => {
  const config = readFileSync(join(projectRoot, 'docker/temporal/config/tirflow.yaml'), 'utf8');
  assert.match(
    config,
    /frontend:\s*\n\s*server:[\s\S]*?requireClientAuth: true/,
    'the frontend requires a client certificate',
  );

  const clients: [string, ComposeService][] = [
    ...workerServices(),
    ['temporal-ui', model.services['temporal-ui']!],
  ];
  const certFiles = new Set<string>();
  for (const [name, service] of clients) {
    const env = service.environment ?? {};
    assert.equal(env.TEMPORAL_TLS_SERVER_NAME, 'temporal-frontend', name);
    // tirflow reads the Temporal CLI's names; the UI server has names of its own.
    const ui = name === 'temporal-ui';
    const [caVar, certVar, keyVar] = ui
      ? ['TEMPORAL_TLS_CA', 'TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY']
      : ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH'];
    assert.equal(secretFile(service, env[caVar]!), join(projectRoot, 'docker/certs/ca.crt'), name);
    const cert = secretFile(service, env[certVar]!);
    const key = secretFile(service, env[keyVar]!);
    const party = name === 'temporal-ui' ? 'ui' : roleOf(service);
    assert.equal(cert, join(projectRoot, `docker/certs/client-${party}.crt`), `${name}'s certificate`);
    assert.equal(key, join(projectRoot, `docker/certs/client-${party}.key`), `${name}'s key`);
    certFiles.add(cert);
  }
  assert.equal(certFiles.size, clients.length, 'no two clients share a certificate');

  const frontend = model.services['temporal-frontend']!;
  assert.equal(
    secretFile(frontend, '/run/secrets/tls/frontend.key'),
    join(projectRoot, 'docker/certs/frontend.key'),
  );
  // Only the frontend holds the frontend's key; no worker holds another party's key.
  for (const [name, service] of Object.entries(model.services)) {
    if (name === 'temporal-frontend') continue;
    assert.ok(
      !service.secrets?.some((s) => s.source === 'tls-frontend-key'),
      `${name} holds the frontend's key`,
    );
  }
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
  const reference = mounts(model.services.reward!);
  assert.deepEqual([...reference.keys()].sort(), ['artifacts', 'datasets', 'models']);
  for (const name of ['artifacts', 'datasets', 'models', 'postgres']) assert.ok(model.volumes?.[name], name);

  for (const [name, service] of workerServices()) {
    const env = service.environment ?? {};
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal-frontend:7233', `${name} points at the frontend`);
    assert.equal(env.TEMPORAL_NAMESPACE, 'default', name);
    // The sandbox mounts the artifact store only: executions read turns and write results there.
    const expected = name === 'sandbox' ? new Map([['artifacts', reference.get('artifacts')!]]) : reference;
    assert.deepEqual(mounts(service), expected, `${name} mounts the shared volumes at the same paths`);
    assert.equal(
      env.TIRFLOW_ARTIFACTS,
      reference.get('artifacts'),
      `${name}: artifacts on the shared volume`,
    );
    for (const volume of service.volumes ?? []) {
      if (volume.source === 'models' || volume.source === 'datasets') {
        assert.equal(volume.read_only, true, `${name} mounts ${volume.source} read-only`);
      }
    }
  }
  // SGLang loads each policy from the trainer's exported folder: the same path must exist there.
  assert.equal(mounts(model.services.sglang!).get('artifacts'), reference.get('artifacts'));

  // One variable moves every worker to another Temporal (a cluster elsewhere, Temporal Cloud), except
  // the sandbox, which reaches the frontend only on its own network.
  const moved = await composeConfig({ TEMPORAL_ADDRESS: 'temporal.internal:7233' });
  for (const [name, service] of Object.entries(moved.services).filter(
    ([, s]) => s.command?.[0] === 'worker',
  )) {
    const expected = name === 'sandbox' ? 'temporal-frontend:7233' : 'temporal.internal:7233';
    assert.equal(service.environment?.TEMPORAL_ADDRESS, expected, name);
  }
});

test('worker commands use options the CLI has; the trainer gets a GPU', async () => {
  const help = await runTirflow(['worker', '--help']);
  assert.equal(help.exitCode, 0, help.all);
  for (const [name, service] of workerServices()) {
    for (const flag of (service.command ?? []).filter((arg) => arg.startsWith('--'))) {
      assert.ok(String(help.stdout).includes(flag), `${name}: \`tirflow worker\` has no ${flag} option`);
    }
  }
  const gpus = model.services.trainer!.deploy?.resources?.reservations?.devices ?? [];
  assert.ok(gpus.some((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu')));
});

test('the sandbox: its own seccomp profile, never SYS_ADMIN unconfined, read-only, no route but to the frontend, limited', async () => {
  const sandbox = model.services.sandbox!;
  const options = sandbox.security_opt ?? [];
  assert.ok(!options.includes('seccomp=unconfined'), 'seccomp is not lifted');
  assert.ok(options.includes('seccomp=./sandbox/seccomp.json'), "the sandbox's own profile");
  assert.ok(options.includes('no-new-privileges:true'));
  assert.deepEqual(sandbox.cap_drop, ['ALL']);
  assert.deepEqual(
    [...(sandbox.cap_add ?? [])].sort(),
    ['DAC_OVERRIDE', 'KILL', 'NET_ADMIN', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_ADMIN'],
    'what bwrap needs to build namespaces and hand the zygote its capabilities, nothing more',
  );
  assert.equal(sandbox.read_only, true, 'read-only root filesystem');
  assert.equal(roleOf(sandbox), 'sandbox');
  assert.ok(sandbox.command?.includes('--no-workflows'), 'the sandbox runs no workflow code');

  assert.deepEqual(Object.keys(sandbox.networks ?? {}), ['sandbox-net']);
  assert.equal(model.networks?.['sandbox-net']?.internal, true, 'sandbox-net has no route out');
  const neighbours = Object.entries(model.services)
    .filter(([name, s]) => name !== 'sandbox' && 'sandbox-net' in (s.networks ?? {}))
    .map(([name]) => name);
  assert.deepEqual(neighbours, ['temporal-frontend'], 'the frontend is the only other member of sandbox-net');

  const limits = sandbox.deploy?.resources?.limits;
  assert.ok(
    Number(limits?.cpus) > 0 && Number(limits?.memory) > 0 && Number(limits?.pids) > 0,
    JSON.stringify(limits),
  );

  // No service anywhere combines SYS_ADMIN with lifted seccomp.
  for (const [name, service] of Object.entries(model.services)) {
    const privileged = service.cap_add?.includes('SYS_ADMIN') || service.cap_add?.includes('ALL');
    assert.ok(!(privileged && service.security_opt?.includes('seccomp=unconfined')), name);
  }

  assert.equal(sandbox.runtime, 'runc');
  const gvisor = await composeConfig({ TIRFLOW_SANDBOX_RUNTIME: 'runsc' });
  assert.equal(
    gvisor.services.sandbox!.runtime,
    'runsc',
    'TIRFLOW_SANDBOX_RUNTIME=runsc runs the sandbox under gVisor',
  );
});

interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  syscalls: {
    names: string[];
    action: string;
    errnoRet?: number;
    args?: { index: number; value: number; valueTwo: number; op: string }[];
  }[];
}

test("the sandbox's seccomp profile allows what bwrap needs and refuses what an escape would start with", () => {
  const profile = JSON.parse(
    readFileSync(join(projectRoot, 'docker/sandbox/seccomp.json'), 'utf8'),
  ) as SeccompProfile;
  assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO', 'an allowlist: what is not named fails');
  const allowed = new Set(
    profile.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names),
  );
  for (const call of [
    'mount',
    'umount2',
    'pivot_root',
    'sethostname',
    'capset',
    'setresuid',
    'execve',
    'socket',
  ]) {
    assert.ok(allowed.has(call), `${call} is allowed`);
  }
  for (const call of [
    'unshare',
    'setns',
    'ptrace',
    'process_vm_readv',
    'process_vm_writev',
    'keyctl',
    'add_key',
    'request_key',
    'bpf',
    'perf_event_open',
    'io_uring_setup',
    'userfaultfd',
    'kexec_load',
    'init_module',
    'finit_module',
    'open_by_handle_at',
    'fsopen',
    'move_mount',
    'reboot',
    'swapon',
    'clock_settime',
  ]) {
    assert.ok(
      !profile.syscalls.some((s) => s.action === 'SCMP_ACT_ALLOW' && s.names.includes(call)),
      `${call} is allowed`,
    );
  }
  const clone = profile.syscalls.find((s) => s.names.includes('clone'));
  assert.deepEqual(
    [clone?.action, clone?.args],
    ['SCMP_ACT_ALLOW', [{ index: 0, value: 0x10000000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]],
    'clone only without CLONE_NEWUSER',
  );
  const clone3 = profile.syscalls.find((s) => s.names.includes('clone3'));
  assert.deepEqual([clone3?.action, clone3?.errnoRet], ['SCMP_ACT_ERRNO', 38], 'clone3 answers ENOSYS');
});
