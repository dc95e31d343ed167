// The control socket's wire format: one JSON request line, one JSON response line, then the server
// closes. Plain data both ways, so every verb's answer can also be printed as JSON (`--json`).

export interface ControlRequest {
  verb: string;
  args: Record<string, unknown>;
}

export type ControlResponse = { ok: true; result: unknown } | { ok: false; error: string };

/** A request larger than this is refused: no verb takes more than a few ids. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** A verb's refusal the client should see as it is (a bad id, an unknown option), not as a server fault. */
export class ControlRefusal extends Error {}
