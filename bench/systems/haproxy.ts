// One Postern node behind a real HAProxy (mode tcp, send-proxy-v2), as the bench's clients reach a
// node in a multi-node setup: the load goes to HAProxy's port, the node trusts HAProxy's address.
import { startHaproxy } from '../../test/helpers/haproxy.js';
import type { Fixture } from '../fixture.js';
import type { RunningSystem } from '../process.js';
import { startPosternSystem, type PosternScenario } from './postern.js';

export async function startBehindHaproxy(fx: Fixture, s: PosternScenario): Promise<RunningSystem> {
  const node = await startPosternSystem(fx, { ...s, proxyTrusted: ['127.0.0.1'] });
  try {
    const haproxy = await startHaproxy({ submission: { port: node.port, proxy: 'v2' } });
    return {
      ...node,
      port: haproxy.port('submission'),
      stop: async () => {
        await haproxy.stop();
        await node.stop();
      },
    };
  } catch (err) {
    await node.stop();
    throw err;
  }
}
