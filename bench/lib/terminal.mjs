/**
 * A program run the way a person's terminal runs it: in a node-pty owned by the bench, read from the master
 * side. Used for the real `rclaude` CLI and for OpenSSH's `ssh`, so both are measured through the same
 * terminal. Every terminal opened here is tracked and killed by `killTerminals()` on every way out.
 */
import fs from 'node:fs';
import pty from 'node-pty';

/** Terminals still open, for cleanup on every way out. */
const open = new Set();

/** Kills every terminal the bench still has open (SIGKILL: the bench is ending). */
export function killTerminals() {
  for (const t of open) t.kill();
}

export class Terminal {
  /**
   * @param {string} file program to run
   * @param {string[]} args
   * @param {{ env: Record<string, string>, cols?: number, rows?: number, cwd?: string }} opts
   */
  constructor(file, args, { env, cols = 80, rows = 24, cwd }) {
    this.startedAt = performance.now();
    this.p = pty.spawn(file, args, { cols, rows, env, encoding: null, ...(cwd ? { cwd } : {}) });
    this.pid = this.p.pid;
    open.add(this);
    /** Total bytes read from the master side. */
    this.received = 0;
    /** The last 64 KiB of output (latin1), for markers and failure messages. */
    this.tail = '';
    this.exit = null;
    this.exitedAt = 0;
    /** @type {((chunk: Buffer, at: number) => void) | null} */
    this.onData = null;
    this.waiters = [];
    this.exited = new Promise((resolve) => {
      this.p.onExit((e) => {
        this.exitedAt = performance.now();
        this.exit = e;
        open.delete(this);
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`${this.describe()} exited (${e.exitCode}); output:\n${this.printable()}`));
        }
        resolve(e);
      });
    });
    this.p.onData((chunk) => {
      const at = performance.now();
      this.received += chunk.length;
      this.tail = (this.tail + chunk.toString('latin1')).slice(-65536);
      this.onData?.(chunk, at);
      if (this.waiters.length) {
        this.waiters = this.waiters.filter((w) => {
          if (!w.test(chunk)) return true;
          clearTimeout(w.timer);
          w.resolve(at);
          return false;
        });
      }
    });
    this.name = [file, ...args].join(' ');
  }

  describe() {
    return this.name.length > 120 ? `${this.name.slice(0, 117)}...` : this.name;
  }

  /** Resolves once the output so far contains `marker` (a string), or rejects after `timeoutMs`. */
  waitFor(marker, timeoutMs) {
    if (this.tail.includes(marker)) return Promise.resolve(performance.now());
    let seen = this.tail.slice(-marker.length);
    return this.#wait(
      (chunk) => {
        seen = (seen + chunk.toString('latin1')).slice(-(marker.length + chunk.length));
        return seen.includes(marker);
      },
      timeoutMs,
      `"${marker}"`,
    );
  }

  /**
   * Writes one byte and resolves with the time, in ms, until that byte comes back on the master side (the
   * echo of a program that reads and writes it back). Rejects after `timeoutMs`.
   */
  async key(ch, timeoutMs) {
    const byte = ch.charCodeAt(0);
    const t0 = performance.now();
    const back = this.#wait((chunk) => chunk.includes(byte), timeoutMs, `the echo of "${ch}"`);
    this.p.write(ch);
    return (await back) - t0;
  }

  write(data) {
    this.p.write(data);
  }

  /** Resolves with the exit, or kills the program and rejects after `timeoutMs`. */
  async waitExit(timeoutMs) {
    let timer;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new Error(`${this.describe()} did not exit within ${timeoutMs} ms; output:\n${this.printable()}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill() {
    if (this.exit) return;
    try {
      this.p.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }

  /** The end of the output with control characters made visible, for error messages. */
  printable() {
    return this.tail
      .slice(-2000)
      .replace(/[\x00-\x08\x0b-\x1f\x7f]/g, (c) => `^${String.fromCharCode(c.charCodeAt(0) ^ 64)}`);
  }

  #wait(test, timeoutMs, what) {
    return new Promise((resolve, reject) => {
      const w = { test, resolve, reject, timer: undefined };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`${this.describe()}: no ${what} within ${timeoutMs} ms; output:\n${this.printable()}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

/** Peak resident memory of a process so far (VmHWM) in KiB, or NaN once it is gone. */
export function peakKiB(pid) {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
