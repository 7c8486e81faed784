import { CliError } from '../errors.js';

/**
 * Parses a Docker-style detach key spec ("ctrl-p,ctrl-q", "ctrl-a,d") into the bytes that trigger it.
 */
export function parseDetachKeys(spec: string): number[] {
  const keys = spec.split(',').map((k) => k.trim().toLowerCase());
  if (keys.length === 0 || keys.some((k) => k === '')) throw new CliError(`invalid --detach-keys "${spec}"`);
  return keys.map((key) => {
    const ctrl = /^ctrl-(.)$/.exec(key);
    if (ctrl) {
      const c = (ctrl[1] as string).charCodeAt(0);
      if (c >= 0x61 && c <= 0x7a) return c - 0x60; // ctrl-a .. ctrl-z
      const special: Record<string, number> = { '@': 0, '[': 27, '\\': 28, ']': 29, '^': 30, _: 31 };
      const code = special[ctrl[1] as string];
      if (code !== undefined) return code;
    } else if (key.length === 1) {
      return key.charCodeAt(0);
    }
    throw new CliError(`invalid key "${key}" in --detach-keys`, 1, 'use keys like ctrl-p,ctrl-q or ctrl-a,d');
  });
}

export function describeKeys(bytes: number[]): string {
  return bytes.map((b) => (b < 32 ? `Ctrl-${String.fromCharCode(b + 64)}` : String.fromCharCode(b))).join(' ');
}

export type KeyAction = { send: Buffer } | { detach: true } | { drop: true };

/**
 * Watches typed bytes for the detach sequence and for ssh's `~.` escape at the start of a line. Bytes that
 * turn out not to be part of a sequence are passed on unchanged.
 */
export class KeyWatcher {
  private matched = 0;
  private lineStart = true;
  private tilde = false;

  constructor(private readonly detach: number[]) {}

  feed(input: Buffer): KeyAction[] {
    const actions: KeyAction[] = [];
    let out: number[] = [];
    const flush = () => {
      if (out.length) actions.push({ send: Buffer.from(out) });
      out = [];
    };
    for (const byte of input) {
      if (this.tilde) {
        this.tilde = false;
        if (byte === 0x2e) {
          flush();
          actions.push({ drop: true });
          return actions;
        }
        out.push(0x7e);
        if (byte === 0x7e) {
          this.lineStart = false;
          continue;
        }
      } else if (this.lineStart && byte === 0x7e && this.matched === 0) {
        this.tilde = true;
        continue;
      }
      if (byte === this.detach[this.matched]) {
        this.matched++;
        if (this.matched === this.detach.length) {
          flush();
          actions.push({ detach: true });
          return actions;
        }
        continue;
      }
      if (this.matched > 0) {
        out.push(...this.detach.slice(0, this.matched));
        this.matched = 0;
        if (byte === this.detach[0]) {
          this.matched = 1;
          continue;
        }
      }
      out.push(byte);
      this.lineStart = byte === 0x0d || byte === 0x0a;
    }
    flush();
    return actions;
  }
}
