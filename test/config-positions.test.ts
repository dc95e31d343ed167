// The position index behind every semantic error: each key and array element of a parsed document must map
// to the place it is written (checked against the text itself), whatever TOML syntax wrote it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import type { KeyPath } from '../src/config/key-path.js';
import { isTable } from '../src/config/reader.js';
import { PositionIndex } from '../src/config/toml-positions.js';

const TRICKY = `# [not.a.table] in a comment
"quoted key" = 'literal [with] brackets' # trailing [comment]
bare-key_1 = """
multi-line "quotes" \\""" [still string]
# not a comment
"""
literal = '''
[not.a.header]
'''
'single.quoted' = 1979-05-27 07:32:00Z
[ spaced . "table" ]
  dotted . key = { inner = { deep = [1, { x = "}" }] } }
  list = [
    # comment in an array
    "a", # after an element
    [ "nested", 2 ],
  ]
[[aot]]
name = "first"
[[aot]]
name = "second"
[aot.sub]
k = true
[[aot.items]]
v = 1
[escaped."\\u0041\\t"]
x = 0
`;

/** Every key path and array-element path in a parsed document, with the first characters it must start with. */
function* paths(node: unknown, path: KeyPath = []): Generator<[KeyPath, unknown]> {
  if (isTable(node)) {
    for (const [key, child] of Object.entries(node)) {
      yield [[...path, key], child];
      yield* paths(child, [...path, key]);
    }
  } else if (Array.isArray(node)) {
    for (const [index, child] of node.entries()) {
      yield [[...path, index], child];
      yield* paths(child, [...path, index]);
    }
  }
}

function checkEveryPosition(text: string): number {
  const index = new PositionIndex(text);
  const lines = text.split('\n');
  let checked = 0;
  for (const [path, value] of paths(parse(text))) {
    const at = index.at(path);
    assert.ok(at, `no position for ${path.join('.')}`);
    const written = (lines[at.line - 1] ?? '').slice(at.column - 1);
    const last = path[path.length - 1];
    if (typeof last === 'string') {
      // A key is written bare, quoted, or (for a table) as a [header] that names it.
      const spellings = [last, JSON.stringify(last), `'${last}'`];
      const ok = spellings.some((s) => written.startsWith(s)) || (written.startsWith('[') && (isTable(value) || Array.isArray(value)));
      assert.ok(ok, `${path.join('.')} points at ${JSON.stringify(written)}`);
    } else {
      // An element is a value ("…", 1, [ … ], { … }) or an array-of-tables header.
      assert.match(written, /^["'\d[{tf]/, `${path.join('.')} points at ${JSON.stringify(written)}`);
    }
    checked++;
  }
  return checked;
}

test('every key and element of a document using most of TOML\'s syntax is located', () => {
  assert.ok(checkEveryPosition(TRICKY) > 25);
  const index = new PositionIndex(TRICKY);
  assert.deepEqual(index.at(['aot', 1, 'sub', 'k']), { line: 23, column: 1 });
  assert.deepEqual(index.at(['aot', 1, 'items', 0, 'v']), { line: 25, column: 1 });
  assert.deepEqual(index.at(['spaced', 'table', 'dotted', 'key', 'inner', 'deep', 1, 'x']), { line: 12, column: 43 });
  assert.deepEqual(index.at(['escaped', 'A\t', 'x']), { line: 27, column: 1 });
  assert.deepEqual(index.at(['spaced', 'table', 'list', 1, 0]), { line: 16, column: 7 });
});

test('CRLF line endings give the same positions', () => {
  const crlf = TRICKY.replaceAll('\n', '\r\n');
  assert.deepEqual(new PositionIndex(crlf).at(['aot', 1, 'sub', 'k']), { line: 23, column: 1 });
  assert.deepEqual(new PositionIndex(crlf).at(['spaced', 'table', 'list', 1, 0]), { line: 16, column: 7 });
});

test('a missing key points at its nearest written ancestor', () => {
  const index = new PositionIndex('[server]\nhostname = "x"\n[server.listener."smtp"]\nprotocol = "smtp"\n');
  assert.deepEqual(index.at(['server', 'listener', 'smtp', 'bind']), { line: 3, column: 1 });
  assert.equal(index.at(['queue', 'path']), undefined);
});

test('the shipped configs and the seed\'s .txt example are fully located', async () => {
  for (const file of ['config/postern.toml', 'config/stalwart-imap.toml']) {
    assert.ok(checkEveryPosition(await readFile(new URL(`../${file}`, import.meta.url), 'utf8')) > 20, file);
  }
  const txt = await readFile(new URL('./seeds/stalwart-auth-stage.txt', import.meta.url), 'utf8');
  checkEveryPosition(txt.slice(txt.indexOf('[session.auth]')));
});
