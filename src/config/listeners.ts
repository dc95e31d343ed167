// [server], [server.listener."<id>"], [server.tls] and [certificate."<id>"]: where Postern listens and with which keys.
import { hostname as osHostname } from 'node:os';
import { parseIp } from './ip.js';
import type { KeyPath } from './key-path.js';
import { readListenerProxy, readProxyDefaults } from './proxy.js';
import type { ConfigReader } from './reader.js';
import type { BindAddress, CertificateConfig, ListenerConfig } from './types.js';

export const DEFAULT_GREETING = 'Postern ESMTP at your service';
const FILE_PREFIX = 'file://';

/** "127.0.0.1:2525" or "[::1]:2525"; port 0 lets the OS choose (tests). */
function parseBind(text: string): BindAddress | null {
  const match = /^\s*(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})\s*$/.exec(text);
  if (match === null) return null;
  const host = match[1] ?? match[2] ?? '';
  const port = Number(match[3]);
  const bytes = parseIp(host);
  // An IPv6 address must be bracketed and an IPv4 one must not, so "::1:25" can't be misread.
  if (bytes === null || port > 65535 || (match[1] !== undefined) !== host.includes(':')) return null;
  return { host, port };
}

function readCertificates(reader: ConfigReader): Map<string, CertificateConfig> {
  const certificates = new Map<string, CertificateConfig>();
  for (const id of reader.tableKeys(['certificate'])) {
    const path = (key: string): KeyPath => ['certificate', id, key];
    const file = (key: string): string => {
      const value = reader.string(path(key));
      if (value === undefined) {
        if (reader.peek(path(key)) === undefined) reader.error(path(key), `missing "${key}" (a PEM file: "file://path")`);
        return '';
      }
      if (value.trimStart().startsWith('-----BEGIN')) reader.error(path(key), 'inline PEM is not supported; write "file://path/to/file.pem"');
      return value.startsWith(FILE_PREFIX) ? value.slice(FILE_PREFIX.length) : value;
    };
    certificates.set(id, { id, cert: file('cert'), privateKey: file('private-key') });
  }
  return certificates;
}

export interface ServerSection {
  hostname: string;
  greeting: string;
  controlSocket: string | null;
  listeners: ListenerConfig[];
}

export const DEFAULT_CONTROL_SOCKET = './data/postern.sock';

/** `server.control-socket`: a path, or false for none. */
export function readControlSocket(reader: ConfigReader): string | null {
  const path: KeyPath = ['server', 'control-socket'];
  const raw = reader.take(path);
  if (raw === undefined) return DEFAULT_CONTROL_SOCKET;
  if (raw === false) return null;
  if (typeof raw === 'string' && raw.trim() !== '') return raw;
  reader.error(path, 'expected the path of a Unix socket, or false for none');
  return null;
}

export function readServer(reader: ConfigReader): ServerSection {
  const hostname = reader.string(['server', 'hostname']) ?? osHostname();
  const greeting = reader.string(['server', 'greeting']) ?? DEFAULT_GREETING;
  const certificates = readCertificates(reader);
  const tlsDefaults = {
    enable: reader.boolean(['server', 'tls', 'enable']),
    implicit: reader.boolean(['server', 'tls', 'implicit']),
    certificate: reader.string(['server', 'tls', 'certificate']),
  };
  const certificatePath: KeyPath = ['server', 'tls', 'certificate'];
  if (tlsDefaults.certificate !== undefined && !certificates.has(tlsDefaults.certificate)) {
    reader.error(certificatePath, `unknown certificate "${tlsDefaults.certificate}" (no [certificate."${tlsDefaults.certificate}"])`);
  }

  const proxyDefaults = readProxyDefaults(reader);

  const ids = reader.tableKeys(['server', 'listener']);
  if (ids.length === 0) reader.error(['server', 'listener'], 'no listeners declared: add [server.listener."<id>"] with bind = "ip:port"');
  const bound = new Map<string, string>();
  const listeners = ids.map((id): ListenerConfig => {
    const at = (...keys: string[]): KeyPath => ['server', 'listener', id, ...keys];

    const bind: BindAddress[] = [];
    const texts = reader.stringList(at('bind'));
    if (texts === undefined && reader.peek(at('bind')) === undefined) reader.error(at('bind'), 'missing "bind" ("ip:port" or a list of them)');
    if (texts?.length === 0) reader.error(at('bind'), '"bind" is empty');
    texts?.forEach((text, i) => {
      const where = Array.isArray(reader.peek(at('bind'))) ? [...at('bind'), i] : at('bind');
      const address = parseBind(text);
      if (address === null) return reader.error(where, `invalid bind address "${text}" (expected "ip:port" or "[ipv6]:port")`);
      const key = `${address.host}:${address.port}`;
      const other = bound.get(key);
      if (address.port !== 0 && other !== undefined) reader.error(where, `"${text}" is already bound by listener "${other}"`);
      bound.set(key, id);
      bind.push(address);
    });

    const protocolText = reader.string(at('protocol')) ?? 'smtp';
    if (protocolText !== 'smtp' && protocolText !== 'http') reader.error(at('protocol'), `unknown protocol "${protocolText}" (smtp or http)`);
    const protocol = protocolText === 'http' ? 'http' : 'smtp';

    const enable = reader.boolean(at('tls', 'enable'));
    const implicit = reader.boolean(at('tls', 'implicit'));
    const certificateId = reader.string(at('tls', 'certificate'));
    const listener: ListenerConfig = {
      id,
      bind,
      protocol,
      hostname: reader.string(at('hostname')) ?? hostname,
      greeting: reader.string(at('greeting')) ?? greeting,
      tls: { enable: false, implicit: false, certificate: null },
      proxy: readListenerProxy(reader, id, protocol, proxyDefaults),
    };
    if (protocol === 'http') {
      // /metrics is served in the clear; server.tls.* is meant for the SMTP listeners.
      if (enable === true) reader.error(at('tls', 'enable'), 'TLS is not supported on http listeners');
      return listener;
    }
    if (!(enable ?? tlsDefaults.enable ?? false)) return listener;
    const name = certificateId ?? tlsDefaults.certificate;
    const certificate = name === undefined ? undefined : certificates.get(name);
    if (name === undefined) {
      reader.error(at('tls'), 'TLS is enabled but no certificate is named (set tls.certificate or server.tls.certificate)');
    } else if (certificate === undefined && certificateId !== undefined) {
      reader.error(at('tls', 'certificate'), `unknown certificate "${name}" (no [certificate."${name}"])`);
    }
    // Stalwart's default: a TLS listener that says nothing about it is implicit TLS.
    listener.tls = { enable: true, implicit: implicit ?? tlsDefaults.implicit ?? true, certificate: certificate ?? null };
    return listener;
  });
  return { hostname, greeting, controlSocket: readControlSocket(reader), listeners };
}
