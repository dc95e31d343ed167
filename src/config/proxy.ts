// `server.proxy.trusted-networks` and per listener `proxy.trusted-networks` (which overrides it): the
// peers an SMTP listener reads a PROXY protocol header from.
import { parseNetwork } from './ip.js';
import type { KeyPath } from './key-path.js';
import type { ConfigReader } from './reader.js';
import type { Network } from './types.js';

/** A CIDR or a list of them; undefined when the key is absent. */
function readNetworks(reader: ConfigReader, path: KeyPath): Network[] | undefined {
  const texts = reader.stringList(path);
  if (texts === undefined) return undefined;
  const listed = Array.isArray(reader.peek(path));
  return texts.flatMap((text, i) => {
    try {
      return [parseNetwork(text)];
    } catch (err) {
      reader.error(listed ? [...path, i] : path, (err as Error).message);
      return [];
    }
  });
}

export function readProxyDefaults(reader: ConfigReader): Network[] {
  return readNetworks(reader, ['server', 'proxy', 'trusted-networks']) ?? [];
}

/** The listener's own list, else `defaults`; only SMTP listeners read the header. */
export function readListenerProxy(reader: ConfigReader, id: string, protocol: 'smtp' | 'http', defaults: Network[]): { trustedNetworks: Network[] } {
  const path: KeyPath = ['server', 'listener', id, 'proxy', 'trusted-networks'];
  const own = readNetworks(reader, path);
  if (protocol === 'http') {
    if (own !== undefined) reader.error(path, 'the PROXY protocol is read on SMTP listeners only');
    return { trustedNetworks: [] };
  }
  return { trustedNetworks: own ?? defaults };
}
