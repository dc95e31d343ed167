// Real certificates for tests, made by openssl: self-signed, SAN localhost + 127.0.0.1.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificate {
  dir: string;
  cert: string;
  key: string;
}

export async function makeCertificate(dir?: string, commonName = 'localhost'): Promise<TestCertificate> {
  const where = dir ?? (await mkdtemp(join(tmpdir(), 'postern-cert-')));
  const cert = join(where, 'cert.pem');
  const key = join(where, 'key.pem');
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
    '-subj', `/CN=${commonName}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert,
  ]);
  return { dir: where, cert, key };
}
