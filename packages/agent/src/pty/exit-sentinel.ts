import { randomBytes } from 'node:crypto';

/**
 * node-pty loses the tail of a fast-exiting program's output on Linux: when the session leader exits the
 * kernel hangs up the terminal and flushes whatever the master has not read yet (measured here: 30 of 100
 * runs of a 1 MB write came up short). So the session leader is a tiny shell that runs the command, then
 * prints an unguessable marker carrying the exit code and waits to be killed. Everything before the marker
 * is the command's complete output; the marker itself is stripped.
 */
const MARKER_PREFIX = '\x1b]7777;rclaude-exit;';
const BEL = 0x07;

/** `trap :` (not `trap ''`) so the command still gets default signal handling; the shell just survives it. */
const WRAPPER = `trap : INT TERM HUP QUIT; "$@"; c=$?; printf '${MARKER_PREFIX.replace('\x1b', '\\033')}%s;%s\\007' "$RCLAUDE_EXIT_NONCE" "$c"; exec sleep 2147483647`;

/** The argv that runs `command` under the exit-marker wrapper, and the env var carrying the nonce. */
export function wrapCommand(command: string[]): { file: string; args: string[]; nonce: string } {
  const nonce = randomBytes(12).toString('hex');
  return { file: '/bin/sh', args: ['-c', WRAPPER, 'rclaude-session', ...command], nonce };
}

export type ScanResult = { output: Buffer; exitCode: number | null };

/**
 * Finds the exit marker in a byte stream. Output is passed through at once except for a trailing partial
 * marker, which is held back until the next chunk decides it (so echo latency is untouched).
 */
export class ExitSentinelScanner {
  private readonly marker: Buffer;
  private held: Buffer = Buffer.alloc(0);
  done = false;

  constructor(nonce: string) {
    this.marker = Buffer.from(`${MARKER_PREFIX}${nonce};`, 'latin1');
  }

  /** Returns the output to emit and, once the marker is complete, the command's exit code. */
  push(chunk: Buffer): ScanResult {
    if (this.done) return { output: Buffer.alloc(0), exitCode: null };
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    const at = data.indexOf(this.marker);
    if (at >= 0) {
      const end = data.indexOf(BEL, at + this.marker.length);
      if (end >= 0) {
        const code = Number.parseInt(data.subarray(at + this.marker.length, end).toString('latin1'), 10);
        this.done = true;
        return { output: data.subarray(0, at), exitCode: Number.isFinite(code) ? code : 1 };
      }
      if (data.length - at < this.marker.length + 16) {
        this.held = Buffer.from(data.subarray(at));
        return { output: data.subarray(0, at), exitCode: null };
      }
    }
    const keep = this.partialMarkerLength(data);
    if (keep > 0) this.held = Buffer.from(data.subarray(data.length - keep));
    return { output: data.subarray(0, data.length - keep), exitCode: null };
  }

  /** Length of the longest suffix of `data` that is a proper prefix of the marker. */
  private partialMarkerLength(data: Buffer): number {
    const max = Math.min(this.marker.length - 1, data.length);
    for (let len = max; len > 0; len--) {
      if (data[data.length - len] !== 0x1b) continue;
      if (data.subarray(data.length - len).equals(this.marker.subarray(0, len))) return len;
    }
    return 0;
  }
}
