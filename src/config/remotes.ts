// [remote."<id>"]: IMAP servers that check credentials ("remote/<id>" lookups), with Stalwart's defaults.
import type { KeyPath } from './key-path.js';
import type { ConfigReader } from './reader.js';
import type { RemoteConfig } from './types.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

export function readRemotes(reader: ConfigReader): Record<string, RemoteConfig> {
  const remotes: Record<string, RemoteConfig> = {};
  for (const id of reader.tableKeys(['remote'])) {
    const at = (...keys: string[]): KeyPath => ['remote', id, ...keys];
    const required = <T>(value: T | undefined, key: string, what: string): T | undefined => {
      if (value === undefined && reader.peek(at(key)) === undefined) reader.error(at(key), `missing "${key}" (${what})`);
      return value;
    };
    const address = required(reader.string(at('address')), 'address', 'host name or IP of the IMAP server');
    const port = required(reader.integer(at('port'), 1, 65535), 'port', 'e.g. 993 or 143');
    const protocol = required(reader.string(at('protocol')), 'protocol', 'must be "imap"');
    if (protocol !== undefined && protocol !== 'imap') reader.error(at('protocol'), `unsupported protocol "${protocol}" (only "imap")`);
    remotes[id] = {
      id,
      address: address ?? '',
      port: port ?? 0,
      protocol: 'imap',
      concurrency: reader.integer(at('concurrency'), 1) ?? 10,
      timeout: reader.duration(at('timeout')) ?? 60_000,
      lookup: reader.boolean(at('lookup')) ?? false,
      cache: {
        // 0 entries = no caching.
        entries: reader.integer(at('cache', 'entries'), 0) ?? 1024,
        positiveTtl: reader.duration(at('cache', 'ttl', 'positive')) ?? DAY,
        negativeTtl: reader.duration(at('cache', 'ttl', 'negative')) ?? HOUR,
      },
      tls: {
        implicit: reader.boolean(at('tls', 'implicit')) ?? true,
        allowInvalidCerts: reader.boolean(at('tls', 'allow-invalid-certs')) ?? false,
      },
    };
  }
  return remotes;
}
