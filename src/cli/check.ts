// `postern --check`: the config as Postern reads it, listener by listener.
import { resolveAuthSettings } from '../config/rules.js';
import type { Config } from '../config/types.js';
import { formatAddress } from '../runtime/postern.js';

export function describeConfig(config: Config): string[] {
  const lines = [`config ${config.source}: OK`];
  for (const l of config.listeners) {
    const binds = l.bind.map((b) => formatAddress({ address: b.host, port: b.port, family: b.host.includes(':') ? 'IPv6' : 'IPv4' }));
    const tls = !l.tls.enable ? 'no TLS' : `${l.tls.implicit ? 'implicit TLS' : 'STARTTLS'} (certificate ${l.tls.certificate?.id})`;
    lines.push(`listener ${l.id}: ${l.protocol} on ${binds.join(', ')}, ${tls}, hostname ${l.hostname}`);
    if (l.protocol !== 'smtp') continue;
    // Rules may test remote-ip/helo-domain too; shown here for a client that matches none of those tests.
    const s = resolveAuthSettings(config.auth, { listener: l.id, 'remote-ip': '', 'local-ip': l.bind[0]?.host ?? '', 'helo-domain': '' });
    lines.push(
      `  auth: mechanisms [${s.mechanisms.join(', ')}], lookup ${s.lookup ?? 'none'}, require ${s.require}, ` +
        `errors.total ${s.errorsTotal}, errors.wait ${s.errorsWait}ms`,
    );
  }
  lines.push(`workers: ${config.server.workers.threads} threads, max-queue ${config.server.workers.maxQueue}; spool ${config.queue.path}`);
  lines.push(`control socket: ${config.server.controlSocket ?? 'none'}`);
  return lines;
}
