// Certificates for the listeners. A missing pair is generated self-signed on first start, so the
// embedded default config runs with nothing else installed.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { generate } from 'selfsigned';
import type { CertificateConfig } from '../config/types.js';

export interface KeyPair {
  cert: Buffer;
  key: Buffer;
}

export async function loadCertificate(
  certificate: CertificateConfig,
  hostname: string,
  onGenerated: (certificate: CertificateConfig) => void,
): Promise<KeyPair> {
  if (!existsSync(certificate.cert) && !existsSync(certificate.privateKey)) {
    const pems = await generate([{ name: 'commonName', value: hostname }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: hostname }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
    });
    await mkdir(dirname(certificate.cert), { recursive: true });
    await mkdir(dirname(certificate.privateKey), { recursive: true });
    await writeFile(certificate.privateKey, pems.private, { mode: 0o600 });
    await writeFile(certificate.cert, pems.cert);
    onGenerated(certificate);
  }
  const [cert, key] = await Promise.all([readFile(certificate.cert), readFile(certificate.privateKey)]);
  return { cert, key };
}
