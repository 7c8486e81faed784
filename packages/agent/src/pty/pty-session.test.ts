import { createHash } from 'node:crypto';
import os from 'node:os';
import type { ExitInfo } from '@rclaude/protocol';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { defaultFlowLimits, PtySession } from './pty-session.js';

const log = pino({ level: 'silent' });

/** Runs a command in a PtySession and collects every byte it hands out, acknowledging as a proxy would. */
function run(command: string[], limits = defaultFlowLimits): Promise<{ out: Buffer; exit: ExitInfo }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const session: PtySession = new PtySession({
      id: 'test_session',
      command,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' },
      cwd: os.tmpdir(),
      cols: 80,
      rows: 24,
      startOffset: 0,
      limits,
      log,
      onReadable: () =>
        session.drain((offset, data) => {
          chunks.push(Buffer.from(data));
          session.onStored(offset + data.length);
        }),
      onExit: (exit) => {
        session.dispose();
        resolve({ out: Buffer.concat(chunks), exit });
      },
    });
  });
}

describe('PtySession', () => {
  // node-pty drops the tail of a fast-exiting program's output on Linux (30 of 100 runs here without the
  // exit marker). Regression: every byte of 1 MB printed right before exit arrives, over hundreds of runs.
  it('delivers every byte of a megabyte printed just before exit, 200 times', async () => {
    const expected = createHash('sha256').update(Buffer.alloc(1_000_000, 'x')).digest('hex');
    for (let i = 0; i < 200; i++) {
      const { out, exit } = await run(['sh', '-c', "head -c 1000000 /dev/zero | tr '\\0' x; exit 7"]);
      expect(exit.exitCode).toBe(7);
      expect(exit.endOffset).toBe(1_000_000);
      expect(createHash('sha256').update(out).digest('hex')).toBe(expected);
    }
  }, 300_000);

  it('reports the exit code and a signal death', async () => {
    expect((await run(['sh', '-c', 'exit 0'])).exit.exitCode).toBe(0);
    const killed = await run(['sh', '-c', 'kill -9 $$']);
    expect(killed.exit.exitCode).toBe(137);
  });

  it('pauses a flooding PTY when nothing is acknowledged as stored, and resumes when it is', async () => {
    const limits = { ...defaultFlowLimits, unstoredHigh: 256 * 1024, unstoredLow: 64 * 1024 };
    let session!: PtySession;
    const paused = await new Promise<number>((resolve) => {
      session = new PtySession({
        id: 'flood',
        command: ['sh', '-c', 'yes flood'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        cwd: os.tmpdir(),
        cols: 80,
        rows: 24,
        startOffset: 0,
        limits,
        log,
        onReadable: () => {
          if (session.isPaused) resolve(session.produced);
        },
        onExit: () => undefined,
      });
    });
    // Paused shortly after the high mark: memory is bounded by the watermark plus one read batch.
    expect(paused).toBeGreaterThan(limits.unstoredHigh);
    expect(paused).toBeLessThan(limits.unstoredHigh + 4 * 1024 * 1024);
    session.onStored(session.produced);
    expect(session.isPaused).toBe(false);
    session.dispose();
  });
});
