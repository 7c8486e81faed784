import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScreenMirror } from './screen.js';
import { ScreenFeed } from './screen-feed.js';

const SCROLLBACK = 100;

type Op = { write: Buffer } | { resize: [number, number] };

/** What a mirror shows after every op applied in order, each parsed before the next: the reference. */
async function reference(ops: Op[], cols: number, rows: number): Promise<string> {
  const mirror = new ScreenMirror(cols, rows, SCROLLBACK);
  for (const op of ops) {
    if ('write' in op) await new Promise<void>((r) => mirror.write(op.write, r));
    else mirror.resize(...op.resize);
  }
  const snap = await mirror.snapshot(0);
  mirror.dispose();
  return snap.data;
}

/** The same ops through a ScreenFeed, written back to back as a PTY would. */
async function fed(ops: Op[], cols: number, rows: number, compactAtBytes = 4096) {
  const mirror = new ScreenMirror(cols, rows, SCROLLBACK);
  const feed = new ScreenFeed(mirror, { rows, scrollback: SCROLLBACK, compactAtBytes, feedIntervalMs: 5 });
  let bytes = 0;
  for (const op of ops) {
    if ('write' in op) {
      feed.write(op.write);
      bytes += op.write.length;
    } else feed.resize(...op.resize);
  }
  const snap = await feed.snapshot(1000);
  const result = { data: snap.data, offset: snap.offset, bytes, dropped: feed.dropped, lag: feed.lagBytes };
  feed.dispose();
  mirror.dispose();
  return result;
}

const printable = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789.,:;-_/\t'),
  maxLength: 120,
});
const plainLines = fc
  .array(printable, { minLength: 1, maxLength: 400 })
  .map((lines) => Buffer.from(lines.map((l) => `${l}\r\n`).join('')));
const escapes = fc.constantFrom(
  '\x1b[31m',
  '\x1b[1;44m',
  '\x1b[0m',
  '\x1b[2J',
  '\x1b[H',
  '\x1b[5;10H',
  '\x1b[K',
  '\x1b[?25l',
  '\x1b[?25h',
  '\x1b[4h',
  '\x1b[4l',
  '\x1b[?7l',
  '\x1b[?7h',
  '\x1b(0',
  '\x1b(B',
  '\x1b[?1049h',
  '\x1b[?1049l',
  '\x1b[3A',
  '\x1b[2C',
  '\r',
  '\n',
  '\x08',
  'é',
  '漢',
);
/** A run of plain lines longer than scrollback + 2 * rows: what compaction acts on. */
const flood = fc
  .tuple(fc.integer({ min: 150, max: 700 }), printable)
  .map(([n, text]) => Buffer.from(Array.from({ length: n }, (_, i) => `${text.slice(0, i % 90)}${i}\r\n`).join('')));
const piece = fc.oneof(
  { weight: 2, arbitrary: plainLines },
  { weight: 1, arbitrary: flood },
  { weight: 2, arbitrary: escapes.map((e) => Buffer.from(e)) },
  { weight: 1, arbitrary: printable.map((t) => Buffer.from(t)) },
);

/** Splits a byte stream at arbitrary points, as PTY reads do (escape sequences and UTF-8 get cut too). */
function split(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    if (p > at) out.push(data.subarray(at, p));
    at = Math.max(at, p);
  }
  if (at < data.length) out.push(data.subarray(at));
  return out;
}

describe('ScreenFeed', () => {
  it('shows exactly the screen and scrollback of parsing everything, for any output cut anywhere', async () => {
    let compacted = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(piece, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.constantFrom<[number, number]>([80, 24], [40, 10], [120, 5]),
        async (pieces, cuts, [cols, rows]) => {
          const ops: Op[] = split(Buffer.concat(pieces), cuts).map((write) => ({ write }));
          const got = await fed(ops, cols, rows);
          expect(got.data).toBe(await reference(ops, cols, rows));
          expect(got.offset).toBe(1000 + got.bytes);
          if (got.dropped > 0) compacted++;
        },
      ),
      { numRuns: 150 },
    );
    // The property means something only if lines were actually dropped in a good share of the runs.
    expect(compacted).toBeGreaterThan(30);
  }, 120_000);

  it('keeps enough lines for the new height while a resize is pending', async () => {
    // Found by the property below. Lines scrolled in under a coloured background keep that background;
    // rows that were blank before do not. Cut with the old height's margin, a line moved from one to the other.
    const flood = Buffer.from(Array.from({ length: 151 }, (_, i) => `a${i}\r\n`).join(''));
    const ops: Op[] = [
      { write: Buffer.from('\x1b[1;44m') },
      { resize: [90, 30] },
      { write: flood },
      { resize: [90, 30] },
      { write: Buffer.from('\x1b[31m') },
    ];
    const got = await fed(ops, 80, 24);
    expect(got.data).toBe(await reference(ops, 80, 24));
  });

  it('keeps resizes in order with the output around them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            piece.map((write): Op => ({ write })),
            fc.constantFrom<Op>({ resize: [60, 12] }, { resize: [90, 30] }),
          ),
          {
            minLength: 1,
            maxLength: 20,
          },
        ),
        async (ops) => {
          const got = await fed(ops, 80, 24);
          expect(got.data).toBe(await reference(ops, 80, 24));
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);

  it('drops most of a flood of plain lines, and still shows its last lines', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 70)}\r\n`).join('');
    const ops: Op[] = split(
      Buffer.from(`\x1b[32mgreen\x1b[0m\r\n${lines}tail`),
      Array.from({ length: 300 }, (_, i) => i * 4099),
    ).map((write) => ({ write }));
    const got = await fed(ops, 80, 24, 64 * 1024);
    expect(got.data).toBe(await reference(ops, 80, 24));
    expect(got.dropped).toBeGreaterThan(got.bytes * 0.8);
    expect(got.data).toContain('line 19999');
    expect(got.lag).toBe(0);
  }, 60_000);

  it('keeps no backlog once the terminal has caught up, and says so', async () => {
    const mirror = new ScreenMirror(80, 24, SCROLLBACK);
    let caughtUp = 0;
    const feed = new ScreenFeed(mirror, { rows: 24, scrollback: SCROLLBACK, onCaughtUp: () => caughtUp++ });
    feed.write(Buffer.from('hello\r\n'));
    expect(feed.lagBytes).toBe(7);
    await feed.snapshot(0);
    expect(feed.lagBytes).toBe(0);
    expect(caughtUp).toBeGreaterThan(0);
    feed.dispose();
    mirror.dispose();
  });
});
