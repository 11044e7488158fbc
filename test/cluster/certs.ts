/**
 * The tier's certificates, made by the same script an operator runs for docker/compose.yaml
 * (docker/make-certs.sh, openssl): a CA, the frontend's certificate and one client
 * certificate per party.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { projectRoot } from '../../activities/projectPaths';

export interface CertificateSet {
  dir: string;
  ca: string;
  /** The client certificate and key of one party (`client-<party>.crt/.key`). */
  client(party: string): { cert: string; key: string };
}

export async function makeCertificates(
  dir: string,
  options: { clients: readonly string[]; sans?: readonly string[]; caName?: string },
): Promise<CertificateSet> {
  const args = [join(projectRoot, 'docker', 'make-certs.sh'), dir, '--days', '1'];
  for (const san of options.sans ?? []) args.push('--san', san);
  args.push('--clients', options.clients.join(' '));
  if (options.caName) args.push('--ca-name', options.caName);
  const result = await execa('bash', args, { reject: false, all: true });
  if (result.exitCode !== 0) throw new Error(`docker/make-certs.sh failed:\n${result.all}`);
  return {
    dir,
    ca: join(dir, 'ca.crt'),
    client: (party) => ({ cert: join(dir, `client-${party}.crt`), key: join(dir, `client-${party}.key`) }),
  };
}
