// [directory."<id>"] type = "memory": users kept in the config file ("directory/<id>" lookups).
import type { KeyPath } from './key-path.js';
import { describeType, isTable, type ConfigReader } from './reader.js';
import type { DirectoryConfig, DirectoryUser } from './types.js';

/** The schemes src/auth/hash.ts verifies (argon2, bcrypt, sha256/512-crypt); anything else is plaintext there. */
const HASHED = /^\$(argon2(id|i|d)|2[aby]|[56])\$/;

export function readDirectories(reader: ConfigReader): Record<string, DirectoryConfig> {
  const directories: Record<string, DirectoryConfig> = {};
  for (const id of reader.tableKeys(['directory'])) {
    const at = (...keys: (string | number)[]): KeyPath => ['directory', id, ...keys];
    const type = reader.string(at('type'));
    if (type === undefined && reader.peek(at('type')) === undefined) reader.error(at('type'), 'missing "type" (must be "memory")');
    if (type !== undefined && type !== 'memory') reader.error(at('type'), `unsupported directory type "${type}" (only "memory")`);

    const raw = reader.peek(at('users'));
    const users: DirectoryUser[] = [];
    if (raw === undefined) reader.warn(at(), 'directory has no users ([[directory."<id>".users]])');
    else if (!Array.isArray(raw) || !raw.every(isTable)) {
      reader.take(at('users'));
      reader.error(at('users'), `expected [[directory."${id}".users]] tables, got ${describeType(raw)}`);
    } else {
      const names = new Set<string>();
      raw.forEach((_, i) => {
        const field = (key: string): string | undefined => {
          const value = reader.string(at('users', i, key));
          if (value === undefined && reader.peek(at('users', i, key)) === undefined) reader.error(at('users', i, key), `missing "${key}"`);
          return value;
        };
        const name = field('name');
        const secret = field('secret');
        const email = reader.stringList(at('users', i, 'email')) ?? [];
        if (name !== undefined && names.has(name)) reader.error(at('users', i, 'name'), `duplicate user "${name}"`);
        if (secret !== undefined && !HASHED.test(secret)) {
          reader.warn(at('users', i, 'secret'), 'plaintext secret; store a hash instead (postern hash-password)');
        }
        if (name !== undefined) names.add(name);
        users.push({ name: name ?? '', secret: secret ?? '', email });
      });
    }
    directories[id] = { id, type: 'memory', users };
  }
  return directories;
}
