// The PROXY protocol: headers read from trusted peers by listener and result — a client (`proxied`),
// the balancer itself (`local`: health checks), or the connection closed without a reply (the rest).
import { Counter, type Registry } from 'prom-client';
import type { PosternEvent, ProxyRefusal, ProxyResult } from '../events.js';

const RESULTS: readonly (ProxyResult | ProxyRefusal)[] = ['proxied', 'local', 'malformed', 'timeout', 'truncated'];

export function proxyMetrics(registry: Registry, listeners: readonly string[]): (event: PosternEvent) => void {
  const headers = new Counter({
    name: 'postern_proxy_headers_total',
    help: 'PROXY protocol headers awaited from trusted peers, by result; malformed, timeout and truncated closed the connection.',
    labelNames: ['listener', 'result'] as const,
    registers: [registry],
  });
  for (const listener of listeners) for (const result of RESULTS) headers.inc({ listener, result }, 0);

  return (event) => {
    if (event.type === 'proxy.header') headers.inc({ listener: event.listener, result: event.result });
    else if (event.type === 'proxy.refused') headers.inc({ listener: event.listener, result: event.reason });
  };
}
