/**
 * Flow control at the PTY: what pauses a flooding program (viewers falling behind, the screen mirror's parse
 * lag), what resumes it, and that a stuck viewer never holds back a fast one for long. Assertions bound
 * amounts of output, never durations: a paused PTY cannot produce more, however long we look.
 */
import os from 'node:os';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultFlowLimits, type FlowLimits, PtySession } from './pty-session.js';

const log = pino({ level: 'silent' });
const KiB = 1024;
const sessions: PtySession[] = [];

afterEach(() => {
  for (const s of sessions.splice(0)) s.dispose();
});

/**
 * A session whose output the "proxy" stores at once; `onChunk` sees every chunk handed out (a viewer's acks
 * go through `session.onConsumed`).
 */
function start(command: string[], limits: FlowLimits, onChunk?: (end: number, data: Buffer) => void): PtySession {
  const session: PtySession = new PtySession({
    id: `flow_${sessions.length}`,
    command,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm', HOME: os.tmpdir() },
    cwd: os.tmpdir(),
    cols: 80,
    rows: 24,
    startOffset: 0,
    limits,
    log,
    onReadable: () =>
      session.drain((offset, data) => {
        session.onStored(offset + data.length);
        onChunk?.(offset + data.length, data);
      }),
    onExit: () => undefined,
  });
  sessions.push(session);
  return session;
}

async function until<T>(what: string, fn: () => T, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PTY flow control', () => {
  const limits: FlowLimits = {
    ...defaultFlowLimits,
    viewerHigh: 256 * KiB,
    viewerLow: 128 * KiB,
    viewerStaleMs: 600_000,
  };
  /** What may arrive after the pause decision: the batch being flushed and one PTY read. */
  const slack = 512 * KiB;

  it('pauses a flood while its only viewer is behind, and resumes when the viewer catches up', async () => {
    let keepingUp = false;
    let session!: PtySession;
    session = start(['yes', 'flood'], limits, (end) => keepingUp && session.onConsumed('viewer', end));
    session.onConsumed('viewer', 0);
    await until('the PTY to pause', () => session.isPaused);
    // However long it stays paused, the program cannot get further ahead than the window allows.
    await sleep(500);
    const held = session.produced;
    expect(held).toBeGreaterThan(limits.viewerHigh);
    expect(held).toBeLessThan(limits.viewerHigh + slack);
    expect(session.isPaused).toBe(true);

    keepingUp = true;
    session.onConsumed('viewer', held);
    expect(session.isPaused).toBe(false);
    await until('the flood to go on', () => session.produced > held + 4 * limits.viewerHigh);
  });

  it('lets the fastest viewer set the pace: a stuck viewer does not hold back one that keeps up', async () => {
    let session!: PtySession;
    session = start(['yes', 'flood'], limits, (end) => session.onConsumed('fast', end));
    session.onConsumed('stuck', 0);
    session.onConsumed('fast', 0);
    await until('the flood to run far past the stuck viewer', () => session.produced > 16 * limits.viewerHigh);
    // ...and once the fast viewer leaves, the stuck one holds the PTY again.
    session.viewerGone('fast');
    await until('the PTY to pause for the stuck viewer', () => session.isPaused);
  });

  it('stops waiting for a viewer that has acknowledged nothing for viewerStaleMs', async () => {
    const session = start(['yes', 'flood'], { ...limits, viewerStaleMs: 300 });
    session.onConsumed('gone', 0);
    await until('the PTY to pause', () => session.isPaused);
    await until(
      'the stale viewer to be dropped and the flood to go on',
      () => session.produced > 8 * limits.viewerHigh,
    );
  });

  it('pauses while the screen mirror is too far behind, and resumes once it has parsed', async () => {
    // Colour codes on every line: nothing the mirror may skip, so all of it must be parsed.
    let pausedWithoutViewers = 0;
    let session!: PtySession;
    session = start(
      ['sh', '-c', `yes "$(printf '\\033[31mred\\033[0m \\033[1mbold\\033[0m')"`],
      { ...limits, mirrorHigh: 64 * KiB, mirrorLow: 16 * KiB },
      () => {
        if (session.isPaused) pausedWithoutViewers++;
      },
    );
    await until('a pause on the mirror', () => pausedWithoutViewers > 0);
    await until('the flood to go on after it', () => session.produced > 4 * 1024 * KiB);
  });

  it('brings the prompt back on Ctrl-C during a flood', async () => {
    let text = '';
    let session!: PtySession;
    session = start(['bash', '--norc', '--noprofile', '-i'], limits, (end, data) => {
      text = (text + data.toString('latin1')).slice(-4096);
      session.onConsumed('viewer', end);
    });
    const seen = (s: string) => text.includes(s);
    session.write('PS1=READY-$((6*7))\\>\\ \r');
    await until('the prompt', () => seen('READY-42> '));
    session.write('yes\r');
    const from = session.produced;
    await until('a flood', () => session.produced > from + 4 * 1024 * KiB);
    text = '';
    session.write('\x03');
    await until('the prompt after Ctrl-C', () => seen('READY-42> '));
  });
});
