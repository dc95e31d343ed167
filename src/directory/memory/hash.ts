// Password secrets: verification and hashing for the directory's stored secrets. Pure CPU work
// (no I/O): it runs inside the worker pool, never on the main thread.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { argon2id, argon2Verify, bcrypt, bcryptVerify } from 'hash-wasm';
import { encrypt as shaCrypt } from 'unixcrypt';

export type HashScheme = 'argon2id' | 'bcrypt' | 'sha512-crypt';
type SecretKind = 'argon2' | 'bcrypt' | 'sha-crypt' | 'plaintext';

/** OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane. */
const ARGON2 = { memorySize: 19456, iterations: 2, parallelism: 1, hashLength: 32 } as const;
const BCRYPT_COST = 10;
/** bcrypt only reads the first 72 bytes; hash-wasm refuses longer input instead of truncating like everyone else. */
const BCRYPT_MAX_BYTES = 72;
const CRYPT_ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function kindOf(secret: string): SecretKind {
  if (/^\$argon2(id|i|d)\$/.test(secret)) return 'argon2';
  if (/^\$2[aby]\$/.test(secret)) return 'bcrypt';
  if (/^\$[56]\$/.test(secret)) return 'sha-crypt';
  return 'plaintext';
}

// Digests first: timingSafeEqual needs equal lengths, and comparing digests hides the length.
function constantTimeEqual(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

const bcryptInput = (password: string) => Buffer.from(password, 'utf8').subarray(0, BCRYPT_MAX_BYTES);

/** "$6$rounds=N$salt$digest" → "$6$rounds=N$salt" (what crypt(3) takes as its salt argument). */
const shaCryptSetting = (secret: string) => secret.slice(0, secret.lastIndexOf('$'));

/**
 * Whether `password` matches the stored `secret` (argon2, bcrypt, sha256/512-crypt, else plaintext).
 * Rejects only when a hashed secret can't be parsed: a config fault, not a wrong password.
 */
export async function verifySecret(secret: string, password: string): Promise<boolean> {
  // No stored secret matches an empty password (and hash-wasm throws on one).
  if (password === '') return false;
  switch (kindOf(secret)) {
    case 'argon2':
      return argon2Verify({ password, hash: secret });
    case 'bcrypt':
      return bcryptVerify({ password: bcryptInput(password), hash: secret });
    case 'sha-crypt':
      return constantTimeEqual(shaCrypt(password, shaCryptSetting(secret)), secret);
    case 'plaintext':
      return constantTimeEqual(secret, password);
  }
}

const randomCrypt64 = (length: number) => Array.from(randomBytes(length), (b) => CRYPT_ALPHABET[b % 64]).join('');
const unpaddedBase64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '');

/** A new hash of `password` as a standard string (PHC for argon2id, modular crypt for the others). */
export async function hashPassword(password: string, scheme: HashScheme = 'argon2id'): Promise<string> {
  switch (scheme) {
    case 'argon2id':
      return argon2id({ ...ARGON2, password, salt: randomBytes(16), outputType: 'encoded' });
    case 'bcrypt': {
      const hash = await bcrypt({ password: bcryptInput(password), salt: randomBytes(16), costFactor: BCRYPT_COST, outputType: 'encoded' });
      // hash-wasm labels its output $2a$; with input capped at 72 bytes it is exactly $2b$ (the
      // 2a/2b difference is a length wrap past 255 bytes), the label current tools write.
      return hash.replace(/^\$2a\$/, '$2b$');
    }
    case 'sha512-crypt':
      return shaCrypt(password, `$6$${randomCrypt64(16)}`);
  }
}

/** The scheme and cost part of a secret: secrets with the same key cost the same to verify. */
function costKey(secret: string): string {
  const fields = secret.split('$');
  switch (kindOf(secret)) {
    case 'argon2':
      return fields.slice(0, 4).join('$'); // $argon2id$v=19$m=…,t=…,p=…
    case 'bcrypt':
      return fields.slice(0, 3).join('$'); // $2b$10
    case 'sha-crypt':
      return fields.slice(0, fields[2]?.startsWith('rounds=') ? 3 : 2).join('$'); // $6[$rounds=N]
    case 'plaintext':
      return 'plaintext';
  }
}

/**
 * A secret no password matches (random salt and digest) that costs as much to verify as the
 * most common kind among `secrets`: checking an unknown user against it takes as long as a
 * wrong password for a known one.
 */
export function dummySecretLike(secrets: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const secret of secrets) counts.set(costKey(secret), (counts.get(costKey(secret)) ?? 0) + 1);
  let key = 'plaintext';
  let most = 0;
  for (const [candidate, count] of counts) if (count > most) [key, most] = [candidate, count];
  if (key.startsWith('$argon2')) return `${key}$${unpaddedBase64(randomBytes(16))}$${unpaddedBase64(randomBytes(32))}`;
  if (key.startsWith('$2')) return `${key}$${randomCrypt64(53)}`;
  if (key.startsWith('$5')) return `${key}$${randomCrypt64(16)}$${randomCrypt64(43)}`;
  if (key.startsWith('$6')) return `${key}$${randomCrypt64(16)}$${randomCrypt64(86)}`;
  return randomBytes(24).toString('base64');
}
