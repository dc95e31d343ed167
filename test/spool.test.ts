// The spool at start: what a crashed run left half-written in tmp/ goes, everything else stays.
import assert from 'node:assert/strict';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { basics, scratch, startPostern } from './helpers/postern.js';

test('start: stale half-written files in queue/tmp are removed and logged; fresh ones and queued mail stay', async () => {
  const { dir, cert } = await scratch();
  const queue = join(dir, 'queue');
  await mkdir(join(queue, 'tmp'), { recursive: true });
  const hourAgo = new Date(Date.now() - 3_600_000);
  for (const name of ['crashed.eml', 'crashed.json']) {
    await writeFile(join(queue, 'tmp', name), 'partial');
    await utimes(join(queue, 'tmp', name), hourAgo, hourAgo);
  }
  // A previous process still draining during a rolling restart may be writing this one.
  await writeFile(join(queue, 'tmp', 'live.eml'), 'being written');
  for (const name of ['queued.eml', 'queued.json']) {
    await writeFile(join(queue, name), 'whole');
    await utimes(join(queue, name), hourAgo, hourAgo);
  }

  const server = await startPostern(basics(dir, cert));
  try {
    assert.deepEqual(await readdir(join(queue, 'tmp')), ['live.eml']);
    assert.deepEqual((await readdir(queue)).sort(), ['queued.eml', 'queued.json', 'tmp']);
    const swept = server.logs.map((l) => JSON.parse(l) as { event?: string; files?: number }).find((l) => l.event === 'spool.swept');
    assert.equal(swept?.files, 2);
  } finally {
    await server.close();
  }
});
