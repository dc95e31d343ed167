// smol-toml reports positions only for syntax errors. This index re-reads the (already valid) TOML text and
// records where each key, table header and array element starts, so semantic errors can point there too.
import { pathId, type KeyPath } from './key-path.js';

/** 1-based. */
export interface Position {
  line: number;
  column: number;
}

interface KeySegment {
  name: string;
  at: number;
}

const BARE_KEY = /[A-Za-z0-9_-]/;
const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' };

class Scanner {
  private i = 0;
  /** The current `[table]` (array-of-tables elements included as indices). */
  private table: KeyPath = [];
  readonly lineStarts: number[] = [0];
  /** Array-of-tables paths (without index) → elements seen so far. */
  private readonly tableArrays = new Map<string, number>();
  readonly positions = new Map<string, Position>();

  constructor(private readonly text: string) {
    for (let j = 0; j < text.length; j++) if (text[j] === '\n') this.lineStarts.push(j + 1);
  }

  position(offset: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (this.lineStarts[lo] ?? 0) + 1 };
  }

  private record(path: KeyPath, offset: number): void {
    const id = pathId(path);
    if (!this.positions.has(id)) this.positions.set(id, this.position(offset));
  }

  private peek(ahead = 0): string {
    return this.text[this.i + ahead] ?? '';
  }

  private skipSpaces(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }

  /** Whitespace, newlines and comments: what may separate array elements and statements. */
  private skipBlank(): void {
    for (;;) {
      const c = this.peek();
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n') this.i++;
      else if (c === '#') while (this.i < this.text.length && this.peek() !== '\n') this.i++;
      else return;
    }
  }

  run(): void {
    for (;;) {
      this.skipBlank();
      if (this.i >= this.text.length) return;
      if (this.peek() === '[') this.header();
      else this.keyValue(this.table);
    }
  }

  /** Header keys as a path, with the current index inserted after every array-of-tables prefix. */
  private headerPath(keys: KeySegment[], isArray: boolean): KeyPath {
    const path: (string | number)[] = [];
    keys.forEach((key, n) => {
      path.push(key.name);
      const id = pathId(path);
      const count = this.tableArrays.get(id);
      if (isArray && n === keys.length - 1) {
        this.tableArrays.set(id, (count ?? 0) + 1);
        path.push(count ?? 0);
      } else if (count !== undefined) {
        path.push(count - 1);
      }
    });
    return path;
  }

  private header(): void {
    const start = this.i;
    const isArray = this.peek(1) === '[';
    this.i += isArray ? 2 : 1;
    const keys = this.key();
    this.skipSpaces();
    this.i += isArray ? 2 : 1;
    const path = this.headerPath(keys, isArray);
    for (let n = 1; n <= path.length; n++) this.record(path.slice(0, n), start);
    this.table = path;
  }

  private keyValue(base: KeyPath): void {
    const keys = this.key();
    const path = [...base];
    for (const key of keys) {
      path.push(key.name);
      this.record(path, key.at);
    }
    this.skipSpaces();
    if (this.peek() !== '=') throw new Error('unexpected text');
    this.i++;
    this.skipSpaces();
    this.value(path);
  }

  private key(): KeySegment[] {
    const keys: KeySegment[] = [];
    for (;;) {
      this.skipSpaces();
      const at = this.i;
      const c = this.peek();
      let name: string;
      if (c === '"') name = this.basicString();
      else if (c === "'") name = this.literalString();
      else {
        while (BARE_KEY.test(this.peek())) this.i++;
        name = this.text.slice(at, this.i);
        if (name === '') throw new Error('unexpected text');
      }
      keys.push({ name, at });
      this.skipSpaces();
      if (this.peek() !== '.') return keys;
      this.i++;
    }
  }

  private basicString(): string {
    this.i++;
    let out = '';
    while (this.i < this.text.length && this.peek() !== '"') {
      const c = this.peek();
      if (c !== '\\') {
        out += c;
        this.i++;
        continue;
      }
      const e = this.peek(1);
      const hex = e === 'u' ? 4 : e === 'U' ? 8 : e === 'x' ? 2 : 0;
      if (hex > 0) {
        out += String.fromCodePoint(parseInt(this.text.slice(this.i + 2, this.i + 2 + hex), 16));
        this.i += 2 + hex;
      } else {
        out += ESCAPES[e] ?? e;
        this.i += 2;
      }
    }
    this.i++;
    return out;
  }

  private literalString(): string {
    const end = this.text.indexOf("'", this.i + 1);
    if (end < 0) throw new Error('unterminated string');
    const out = this.text.slice(this.i + 1, end);
    this.i = end + 1;
    return out;
  }

  /** Skips a multi-line string; up to two quotes right before the closing three belong to the content. */
  private multilineString(quote: string): void {
    this.i += 3;
    for (;;) {
      if (this.i >= this.text.length) throw new Error('unterminated string');
      if (quote === '"' && this.peek() === '\\') this.i += 2;
      else if (this.text.startsWith(quote.repeat(3), this.i)) break;
      else this.i++;
    }
    this.i += 3;
    while (this.peek() === quote) this.i++;
  }

  private value(path: KeyPath): void {
    const c = this.peek();
    if (c === '"' || c === "'") {
      if (this.text.startsWith(c.repeat(3), this.i)) this.multilineString(c);
      else if (c === '"') this.basicString();
      else this.literalString();
    } else if (c === '[') {
      this.array(path);
    } else if (c === '{') {
      this.inlineTable(path);
    } else {
      // number, boolean or date: ends where the next separator starts
      while (this.i < this.text.length && !',]}#\r\n'.includes(this.peek())) this.i++;
    }
  }

  private array(path: KeyPath): void {
    this.i++;
    for (let index = 0; ; index++) {
      this.skipBlank();
      if (this.peek() === ']' || this.i >= this.text.length) break;
      this.record([...path, index], this.i);
      this.value([...path, index]);
      this.skipBlank();
      if (this.peek() === ',') this.i++;
    }
    this.i++;
  }

  private inlineTable(path: KeyPath): void {
    this.i++;
    for (;;) {
      this.skipBlank();
      if (this.peek() === '}' || this.i >= this.text.length) break;
      this.keyValue(path);
      this.skipBlank();
      if (this.peek() === ',') this.i++;
    }
    this.i++;
  }

  /** The header at `offset` ("[a.b]" or "[[a.b]]"), as a path without array indices, or null. */
  headerAt(offset: number): KeyPath | null {
    this.i = offset;
    this.skipSpaces();
    if (this.peek() !== '[') return null;
    this.i += this.peek(1) === '[' ? 2 : 1;
    return this.key().map((k) => k.name);
  }
}

/** Positions of keys, table headers and array elements in one TOML text. */
export class PositionIndex {
  private readonly positions: Map<string, Position>;

  constructor(private readonly text: string) {
    const scanner = new Scanner(text);
    try {
      scanner.run();
    } catch {
      // Best effort: the text already parsed, so this is a construct the scanner doesn't know; keep what it found.
    }
    this.positions = scanner.positions;
  }

  /** Where `path` is written, or else its nearest written ancestor (a missing key points at its table). */
  at(path: KeyPath): Position | undefined {
    for (let n = path.length; n > 0; n--) {
      const found = this.positions.get(pathId(path.slice(0, n)));
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** The table header on `line` (1-based), if that line is one: to reword smol-toml's redefinition errors. */
  headerOnLine(line: number): KeyPath | null {
    const scanner = new Scanner(this.text);
    const lineStart = scanner.lineStarts[line - 1];
    if (lineStart === undefined) return null;
    try {
      return scanner.headerAt(lineStart);
    } catch {
      return null;
    }
  }
}
