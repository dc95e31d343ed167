// SMTP traffic: connections, TLS handshakes, queued and rejected messages — all by listener id.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PosternEvent } from '../events.js';

const REJECT_REASONS = ['too_large', 'spool_error'] as const;

export function trafficMetrics(registry: Registry, listeners: readonly string[]): (event: PosternEvent) => void {
  const registers = [registry];
  const accepted = new Counter({
    name: 'postern_smtp_connections_total',
    help: 'SMTP connections accepted.',
    labelNames: ['listener'] as const,
    registers,
  });
  const active = new Gauge({
    name: 'postern_smtp_connections_active',
    help: 'SMTP connections currently open.',
    labelNames: ['listener'] as const,
    registers,
  });
  const tls = new Counter({
    name: 'postern_smtp_tls_handshakes_total',
    help: 'TLS handshakes (STARTTLS or implicit), by outcome.',
    labelNames: ['listener', 'outcome'] as const,
    registers,
  });
  const queued = new Counter({
    name: 'postern_messages_queued_total',
    help: 'Messages accepted and written to the queue.',
    labelNames: ['listener'] as const,
    registers,
  });
  const queuedBytes = new Counter({
    name: 'postern_messages_queued_bytes_total',
    help: 'Size of the messages written to the queue.',
    labelNames: ['listener'] as const,
    registers,
  });
  const rejected = new Counter({
    name: 'postern_messages_rejected_total',
    help: 'Messages refused at DATA, by reason.',
    labelNames: ['listener', 'reason'] as const,
    registers,
  });

  // Series exist from the first scrape, so rate() and "== 0" alerts work before any traffic.
  for (const listener of listeners) {
    accepted.inc({ listener }, 0);
    active.set({ listener }, 0);
    for (const outcome of ['ok', 'failed']) tls.inc({ listener, outcome }, 0);
    queued.inc({ listener }, 0);
    queuedBytes.inc({ listener }, 0);
    for (const reason of REJECT_REASONS) rejected.inc({ listener, reason }, 0);
  }

  return (event) => {
    switch (event.type) {
      case 'session.connect':
        accepted.inc({ listener: event.listener });
        active.inc({ listener: event.listener });
        break;
      case 'session.close':
        active.dec({ listener: event.listener });
        break;
      case 'session.tls':
        tls.inc({ listener: event.listener, outcome: event.ok ? 'ok' : 'failed' });
        break;
      case 'message.queued':
        queued.inc({ listener: event.listener });
        queuedBytes.inc({ listener: event.listener }, event.bytes);
        break;
      case 'message.rejected':
        rejected.inc({ listener: event.listener, reason: event.reason });
        break;
      default:
        break;
    }
  };
}
