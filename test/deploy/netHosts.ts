/**
 * "Hosts" on one machine for multi-host tests: one network namespace per host, each with one
 * veth link to a bridge in the root namespace and a private address (10.231.X.Y/24) that
 * exists only inside that namespace. The bridge itself has no address, so every packet goes
 * between namespaces the test made; nothing in the root namespace is a source or a target.
 *
 * Names carry a random run id, so concurrent runs never meet; `remove()` deletes everything
 * created, and a failed creation removes what it had made before it throws.
 */
import { randomBytes } from 'node:crypto';
import { execa, type Options, type ResultPromise } from 'execa';

export interface NetHost {
  name: string;
  /** The network namespace (`ip netns exec <netns> ...`). */
  netns: string;
  address: string;
}

export interface HostNetwork {
  hosts: Record<string, NetHost>;
  bridge: string;
  remove(): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  const result = await execa('ip', args, { reject: false });
  if (result.exitCode !== 0)
    throw new Error(`ip ${args.join(' ')} failed: ${result.stderr || result.message}`);
  return result.stdout;
}

/** Fails with what is missing, never skips: multi-host tests need root and iproute2. */
export async function requireNetnsSupport(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('multi-host tests create network namespaces and veth links: run them as root');
  }
  const probe = await execa('ip', ['-V'], { reject: false });
  if (probe.exitCode !== 0) {
    throw new Error(`multi-host tests need iproute2's \`ip\` command: ${probe.stderr || probe.message}`);
  }
}

/** A 10.231.X.0/24 subnet no interface on this machine uses yet. */
async function freeSubnet(): Promise<string> {
  const inUse = await ip('-o', '-4', 'addr', 'show');
  const routes = await ip('-4', 'route', 'show');
  for (let attempt = 0; attempt < 50; attempt++) {
    const prefix = `10.231.${1 + (randomBytes(1)[0]! % 254)}.`;
    if (!inUse.includes(prefix) && !routes.includes(prefix)) return prefix;
  }
  throw new Error('no free 10.231.X.0/24 subnet for the test hosts');
}

export async function createHostNetwork(names: readonly string[]): Promise<HostNetwork> {
  await requireNetnsSupport();
  const id = randomBytes(3).toString('hex');
  const bridge = `tfmh${id}`; // interface names: 15 characters at most
  const prefix = await freeSubnet();
  const namespaces: string[] = [];
  let bridgeMade = false;

  async function remove(): Promise<void> {
    const problems: string[] = [];
    // Deleting a namespace destroys its veth end, and with it the peer on the bridge.
    for (const netns of namespaces.splice(0).reverse()) {
      await ip('netns', 'del', netns).catch((err: Error) => problems.push(err.message));
    }
    if (bridgeMade) {
      bridgeMade = false;
      await ip('link', 'del', bridge).catch((err: Error) => problems.push(err.message));
    }
    if (problems.length > 0) throw new Error(`cleaning up test hosts:\n${problems.join('\n')}`);
  }

  const hosts: Record<string, NetHost> = {};
  try {
    await ip('link', 'add', 'name', bridge, 'type', 'bridge');
    bridgeMade = true;
    await ip('link', 'set', bridge, 'up');
    for (const [index, name] of names.entries()) {
      const netns = `tirflow-mh-${id}-${name}`;
      await ip('netns', 'add', netns);
      namespaces.push(netns);
      const outer = `tfv${id}${index}`;
      const address = `${prefix}${10 + index}`;
      // The inner end is born in the namespace, so nothing half-made is left in the root one.
      await ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ip('link', 'set', outer, 'master', bridge, 'up');
      await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      hosts[name] = { name, netns, address };
    }
  } catch (err) {
    await remove().catch(() => undefined);
    throw err;
  }
  return { hosts, bridge, remove };
}

/** Runs a command on a host, in its own process group (so the whole tree can be signalled). */
export function runOnHost(
  host: NetHost,
  command: string,
  args: string[],
  options: Options = {},
): ResultPromise {
  return execa('ip', ['netns', 'exec', host.netns, command, ...args], {
    reject: false,
    all: true,
    detached: true,
    ...options,
  });
}

/** The network namespace a process lives in, by name (`ip netns identify`). */
export async function netnsOf(pid: number): Promise<string> {
  return (await ip('netns', 'identify', String(pid))).trim();
}
