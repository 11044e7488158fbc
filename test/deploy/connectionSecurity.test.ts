/**
 * Connecting to a secured Temporal (a TLS cluster, Temporal Cloud): the CLI's --tls-* and
 * --api-key options reach the wire. A local HTTP/2 server with a CA the test makes (openssl)
 * requires a client certificate and records each gRPC call it gets; it answers UNIMPLEMENTED,
 * since only what arrives is under test.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { NativeConnection } from '@temporalio/worker';
import { Command } from 'commander';
import { execa } from 'execa';
import { CliError, exitCodes } from '../../cli/exitCodes';
import {
  connectClient,
  connectionSecurity,
  withClusterOptions,
  type ClusterOptions,
} from '../../cli/connection';

const dir = mkdtempSync(join(tmpdir(), 'tirflow-tls-'));
const file = (name: string): string => join(dir, name);
const serverName = 'temporal.tirflow.test';

interface ReceivedCall {
  path: string;
  authorization?: string;
  clientCertCN?: string;
}
const received: ReceivedCall[] = [];
let server: Http2SecureServer;
let address: string;

async function openssl(...args: string[]): Promise<void> {
  const result = await execa('openssl', args, { reject: false, cwd: dir });
  assert.equal(
    result.exitCode,
    0,
    `openssl ${args.join(' ')} failed (is openssl installed?): ${result.stderr}`,
  );
}

/** A CA, a server certificate for `serverName` and a client certificate, all signed by the CA. */
async function makeCertificates(): Promise<void> {
  await openssl(
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=tirflow test CA'],
    ...['-keyout', 'ca.key', '-out', 'ca.crt'],
  );
  for (const [name, subject, extension] of [
    ['server', `/CN=${serverName}`, `subjectAltName=DNS:${serverName}`],
    ['client', '/CN=tirflow-worker', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    await openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      subject,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    writeFileSync(file(`${name}.ext`), `${extension}\n`);
    await openssl(
      ...['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'],
      ...['-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.crt`],
    );
  }
}

before(async () => {
  await makeCertificates();
  server = createSecureServer({
    key: readFileSync(file('server.key')),
    cert: readFileSync(file('server.crt')),
    ca: readFileSync(file('ca.crt')),
    requestCert: true,
    rejectUnauthorized: true, // no client certificate from the CA: no connection
  });
  server.on('stream', (stream, headers) => {
    const socket = stream.session?.socket as TLSSocket | undefined;
    received.push({
      path: String(headers[':path']),
      authorization: headers.authorization,
      clientCertCN: socket?.getPeerCertificate().subject?.CN as string | undefined,
    });
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () =>
      stream.sendTrailers({ 'grpc-status': '12', 'grpc-message': 'test server' }),
    );
    stream.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Parses a command line through the same options every tirflow command has. */
function parseClusterOptions(args: string[]): ClusterOptions {
  const command = withClusterOptions(new Command('probe')).exitOverride();
  command.parse(args, { from: 'user' });
  return command.opts<ClusterOptions>();
}

const secured = (extra: string[] = []): ClusterOptions =>
  parseClusterOptions([
    ...['--address', address, '--tls-cert', file('client.crt'), '--tls-key', file('client.key')],
    ...['--tls-ca', file('ca.crt'), '--tls-server-name', serverName, ...extra],
  ]);

test('no TLS options: a plain connection, as to the local dev server', () => {
  assert.deepEqual(connectionSecurity(parseClusterOptions([])), {});
});

test('an API key alone turns TLS on with the system roots (Temporal Cloud)', () => {
  assert.deepEqual(connectionSecurity(parseClusterOptions(['--api-key', 'k-123'])), {
    tls: true,
    apiKey: 'k-123',
  });
});

test('TEMPORAL_TLS=true turns TLS on; TEMPORAL_TLS=false leaves it off', (t) => {
  const saved = process.env.TEMPORAL_TLS;
  t.after(() => {
    if (saved === undefined) delete process.env.TEMPORAL_TLS;
    else process.env.TEMPORAL_TLS = saved;
  });
  process.env.TEMPORAL_TLS = 'true';
  assert.deepEqual(connectionSecurity(parseClusterOptions([])), { tls: true });
  process.env.TEMPORAL_TLS = 'false';
  assert.deepEqual(connectionSecurity(parseClusterOptions([])), {});
});

test('an unreadable certificate file is bad input (exit 2), not an unreachable server', () => {
  assert.throws(
    () =>
      connectionSecurity(
        parseClusterOptions(['--tls-cert', file('missing.crt'), '--tls-key', file('client.key')]),
      ),
    (err: unknown) =>
      err instanceof CliError &&
      err.exitCode === exitCodes.badInput &&
      /cannot read the TLS certificate .*missing\.crt: ENOENT/.test(err.message),
  );
});

test('a certificate without its key is refused with a clear message', () => {
  assert.throws(
    () => connectionSecurity(parseClusterOptions(['--tls-cert', file('client.crt')])),
    /--tls-cert and --tls-key go together/,
  );
});

test("the CLI client presents the client certificate and the API key over TLS to the server's CA", async () => {
  received.length = 0;
  try {
    const { close } = await connectClient(secured(['--api-key', 'client-key']));
    await close();
  } catch {
    // The test server implements no Temporal call; what it received is the point.
  }
  assert.ok(received.length > 0, 'the client reached the server over mTLS');
  for (const call of received) {
    assert.match(call.path, /^\/temporal\.api\.workflowservice\.v1\.WorkflowService\//);
    assert.equal(call.authorization, 'Bearer client-key');
    assert.equal(call.clientCertCN, 'tirflow-worker');
  }
});

test('a worker connection presents the same certificate and API key', async () => {
  received.length = 0;
  try {
    const connection = await NativeConnection.connect({
      address,
      ...connectionSecurity(secured(['--api-key', 'worker-key'])),
    });
    await connection.close();
  } catch {
    // as above
  }
  assert.ok(received.length > 0, 'the worker reached the server over mTLS');
  for (const call of received) {
    assert.equal(call.authorization, 'Bearer worker-key');
    assert.equal(call.clientCertCN, 'tirflow-worker');
  }
});
