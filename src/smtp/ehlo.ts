// The EHLO capability list. smtp-server builds its own from server-wide options; ours depends on the
// session's rules (mechanisms can test helo-domain), so the adapter sends this list instead.
import type { Mechanism } from '../sasl/types.js';

export interface EhloInput {
  hostname: string;
  clientName: string;
  mechanisms: Mechanism[];
  authenticated: boolean;
  starttls: boolean;
  maxSize: number;
}

export function ehloLines(input: EhloInput): string[] {
  const lines = [`${input.hostname} Hello ${input.clientName}`, 'PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES'];
  if (!input.authenticated && input.mechanisms.length > 0) lines.push(`AUTH ${input.mechanisms.join(' ')}`);
  if (input.starttls) lines.push('STARTTLS');
  lines.push(`SIZE ${input.maxSize}`);
  return lines;
}
