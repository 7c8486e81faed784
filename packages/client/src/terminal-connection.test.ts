import { AppError, type PtySignal } from '@rclaude/protocol';
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ACK_DELAY_MS,
  chunkInput,
  TerminalConnection,
  type TerminalConnectionOptions,
  type TerminalConnectionState,
  type TerminalSink,
} from './terminal-connection.js';
import type {
  TerminalAttachment,
  TerminalAttachRequest,
  TerminalLink,
  TerminalLinkEvents,
  TerminalTransport,
} from './terminal-transport.js';

const text = (s: string) => new TextEncoder().encode(s);

/** One attach as the fake transport saw it, with handles to drive it. */
interface FakeLink {
  request: TerminalAttachRequest;
  events: TerminalLinkEvents;
  inputs: string[];
  resizes: [number, number][];
  signals: PtySignal[];
  acks: number[];
  closed: boolean;
}

type Answer = TerminalAttachment | AppError;

/** A transport whose attaches are answered from a queue; every link is recorded. */
class FakeTransport implements TerminalTransport {
  readonly links: FakeLink[] = [];
  readonly answers: Answer[] = [];

  async open(request: TerminalAttachRequest, events: TerminalLinkEvents): Promise<TerminalLink> {
    const answer = this.answers.shift();
    if (!answer) throw new AppError('TIMEOUT', 'no answer queued');
    if (answer instanceof AppError) throw answer;
    const link: FakeLink = { request, events, inputs: [], resizes: [], signals: [], acks: [], closed: false };
    this.links.push(link);
    return {
      attachment: answer,
      input: (data) => link.inputs.push(data),
      resize: (cols, rows) => link.resizes.push([cols, rows]),
      signal: (signal) => link.signals.push(signal),
      ack: (offset) => link.acks.push(offset),
      close: () => {
        link.closed = true;
      },
    };
  }

  get last(): FakeLink {
    const link = this.links.at(-1);
    if (!link) throw new Error('no link yet');
    return link;
  }
}

/** Records what reaches the screen; renders (calls back) at once unless told to hold. */
class RecordingSink implements TerminalSink {
  screen = '';
  resets = 0;
  hold = false;
  readonly held: (() => void)[] = [];

  reset(): void {
    this.resets += 1;
    this.screen = '';
  }

  write(data: string | Uint8Array, rendered: () => void): void {
    this.screen += typeof data === 'string' ? data : new TextDecoder().decode(data);
    if (this.hold) this.held.push(rendered);
    else rendered();
  }

  flush(): void {
    for (const done of this.held.splice(0)) done();
  }
}

const screenAttach = (data: string, offset: number): TerminalAttachment => ({
  screen: { data, offset, cols: 80, rows: 24 },
  from: offset,
  exit: null,
  running: true,
});
const replayAttach = (from: number): TerminalAttachment => ({ screen: null, from, exit: null, running: true });

/** Waits for the connection's asynchronous steps (the fake answers on the next microtask, backoff is 1 ms). */
async function until(check: () => boolean, what: string): Promise<void> {
  await vi.waitUntil(check, { timeout: 2000, interval: 2 }).catch(() => {
    throw new Error(`timed out waiting for ${what}`);
  });
}

let connection: TerminalConnection | null = null;
afterEach(() => connection?.dispose());

function setup(
  options: Partial<Pick<TerminalConnectionOptions, 'readOnly' | 'from' | 'maxHeldInputChars' | 'ackDelayMs'>> = {},
) {
  const transport = new FakeTransport();
  const sink = new RecordingSink();
  const states: TerminalConnectionState[] = [];
  let size: { cols: number; rows: number } | null = { cols: 100, rows: 30 };
  connection = new TerminalConnection({
    transport,
    sink,
    readOnly: false,
    // Acks at once unless a test is about their delay, so tests can read them right after rendering.
    ackDelayMs: 0,
    ...options,
    size: () => size,
    backoffMs: () => 1,
    onChange: (s) => states.push(s),
  });
  return {
    transport,
    sink,
    states,
    conn: connection,
    setSize: (next: { cols: number; rows: number } | null) => {
      size = next;
    },
  };
}

describe('TerminalConnection', () => {
  it('draws the screen snapshot, then live output, dropping bytes it already has', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push(screenAttach('$ ', 100));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');

    expect(transport.last.request).toMatchObject({ from: 'screen', cols: 100, rows: 30, readOnly: false });
    expect(sink.resets).toBe(1);
    expect(sink.screen).toBe('$ ');

    transport.last.events.output(100, text('ls\r\n'));
    transport.last.events.output(102, text('\r\nfile.txt\r\n')); // overlaps 2 bytes already drawn
    transport.last.events.output(90, text('old bytes')); // entirely before the snapshot
    expect(sink.screen).toBe('$ ls\r\nfile.txt\r\n');
    expect(conn.nextOffset).toBe(114);
  });

  it('acknowledges output only after it is rendered, up to what was rendered', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    sink.hold = true;

    transport.last.events.output(0, text('hello '));
    transport.last.events.output(6, text('world'));
    expect(transport.last.acks).toEqual([]);

    sink.flush();
    expect(transport.last.acks).toEqual([11]);
  });

  it('acknowledges small output once, after a delay, and a window share at once', async () => {
    const { transport, conn } = setup({ ackDelayMs: ACK_DELAY_MS });
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');

    // Keystroke echoes: rendered at once, acknowledged together once the delay has passed.
    const started = performance.now();
    for (let i = 0; i < 5; i++) transport.last.events.output(i, text('k'));
    expect(transport.last.acks).toEqual([]);
    await until(() => transport.last.acks.length > 0, 'the delayed ack');
    expect(performance.now() - started).toBeGreaterThanOrEqual(ACK_DELAY_MS - 1);
    expect(transport.last.acks).toEqual([5]);

    // 64 KiB not yet acknowledged is acknowledged without waiting.
    transport.last.events.output(5, new Uint8Array(64 * 1024));
    expect(transport.last.acks).toEqual([5, 5 + 64 * 1024]);
  });

  it('never leaves 64 KiB rendered unacknowledged, acks only forward and only what was rendered, and ends acked', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ size: fc.integer({ min: 1, max: 150_000 }), hold: fc.boolean() }), {
          minLength: 1,
          maxLength: 12,
        }),
        async (frames) => {
          const { transport, sink, conn } = setup({ ackDelayMs: 2 });
          transport.answers.push(replayAttach(0));
          conn.start();
          await until(() => conn.state.status === 'connected', 'attach');
          const acks = transport.last.acks;
          let rendered = 0;
          let offset = 0;
          // What the sink has called back as rendered, followed through its callbacks.
          const write = sink.write.bind(sink);
          sink.write = (data, done) =>
            write(data, () => {
              rendered += typeof data === 'string' ? data.length : data.byteLength;
              done();
              const last = acks.at(-1) ?? 0;
              expect(rendered - last).toBeLessThan(64 * 1024);
            });
          for (const { size, hold } of frames) {
            sink.hold = hold;
            transport.last.events.output(offset, new Uint8Array(size));
            offset += size;
            if (!hold) sink.flush();
            for (let i = 1; i < acks.length; i++) expect(acks[i]).toBeGreaterThan(acks[i - 1] as number);
            expect(acks.at(-1) ?? 0).toBeLessThanOrEqual(rendered);
          }
          sink.hold = false;
          sink.flush();
          await until(() => acks.at(-1) === offset, 'the last ack');
          conn.dispose();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('sends no delayed ack after dispose', async () => {
    const { transport, conn } = setup({ ackDelayMs: 5 });
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    transport.last.events.output(0, text('x'));
    conn.dispose();
    // An absence: wait past the delay (6x) and see that nothing went out.
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(transport.last.acks).toEqual([]);
  });

  it('after the connection drops, reconnects from the next offset and never doubles output', async () => {
    const { transport, sink, states, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'first attach');
    transport.last.events.output(0, text('abc'));
    const first = transport.last;

    transport.answers.push(replayAttach(1)); // the server replays from a bit earlier than asked
    first.events.closed('transport close');
    expect(conn.state.status).toBe('reconnecting');
    await until(() => transport.links.length === 2 && conn.state.status === 'connected', 'second attach');

    expect(transport.last.request.from).toBe(3);
    expect(sink.resets).toBe(0); // neither a plain first attach nor a resume clears the screen
    transport.last.events.output(1, text('bcdef'));
    expect(sink.screen).toBe('abcdef');
    expect(states.some((s) => s.status === 'reconnecting')).toBe(true);

    first.events.output(6, text('stale link')); // a superseded link's late event is ignored
    expect(sink.screen).toBe('abcdef');
  });

  it('re-attaches from the missing offset when bytes are skipped', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push(replayAttach(0), replayAttach(2));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    transport.last.events.output(0, text('ab'));
    transport.last.events.output(5, text('fg')); // 2..5 never arrived
    await until(() => transport.links.length === 2, 're-attach');

    expect(transport.links[0]?.closed).toBe(true);
    expect(transport.last.request.from).toBe(2);
    await until(() => conn.state.status === 'connected', 'attached again');
    transport.last.events.output(2, text('cdefg'));
    expect(sink.screen).toBe('abcdefg');
  });

  it('starts over from a screen snapshot when its history was trimmed away while disconnected', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    transport.last.events.output(0, text('early'));

    transport.answers.push(replayAttach(5000), screenAttach('[redrawn]', 6000));
    transport.last.events.closed('ping timeout');
    await until(() => transport.links.length === 3 && conn.state.status === 'connected', 'snapshot attach');

    expect(transport.links[1]?.closed).toBe(true);
    expect(transport.last.request.from).toBe('screen');
    expect(sink.screen).toBe('[redrawn]');
    expect(conn.nextOffset).toBe(6000);
  });

  it('keeps retrying with backoff while attaching fails, then attaches', async () => {
    const { transport, conn } = setup();
    transport.answers.push(
      new AppError('AGENT_UNAVAILABLE', 'agent away'),
      new AppError('TIMEOUT', 'slow'),
      replayAttach(0),
    );
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach after retries');
    expect(transport.answers).toHaveLength(0);
    expect(conn.state.attempt).toBe(0);
  });

  it('gives up on errors retrying cannot fix', async () => {
    const { transport, conn } = setup();
    transport.answers.push(new AppError('NOT_FOUND', 'no such session'));
    conn.start();
    await until(() => conn.state.status === 'failed', 'failure');
    expect(conn.state.error).toBe('no such session');
  });

  it('sends input only while attached and writable', async () => {
    const { transport, conn } = setup();
    expect(conn.input('too early')).toBe(false);
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    expect(conn.input('ls\r')).toBe(true);
    expect(transport.last.inputs).toEqual(['ls\r']);

    const link = transport.last;
    link.events.closed('gone');
    expect(conn.input('lost')).toBe(false);
    expect(link.inputs).toEqual(['ls\r']);
  });

  it('never sends input or resizes when read-only', async () => {
    const { transport, conn } = setup({ readOnly: true });
    transport.answers.push(screenAttach('done', 4));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    expect(transport.last.request.readOnly).toBe(true);
    expect(conn.input('x')).toBe(false);
    conn.resize(120, 40);
    expect(transport.last.inputs).toEqual([]);
    expect(transport.last.resizes).toEqual([]);
  });

  it('sends the current size on every (re)attach and on changes, once per size', async () => {
    const { transport, conn, setSize } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    expect(transport.last.resizes).toEqual([[100, 30]]);

    conn.resize(100, 30);
    conn.resize(120, 40);
    expect(transport.last.resizes).toEqual([
      [100, 30],
      [120, 40],
    ]);

    setSize({ cols: 90, rows: 20 });
    transport.answers.push(replayAttach(0));
    transport.last.events.closed('drop');
    await until(() => transport.links.length === 2 && conn.state.status === 'connected', 're-attach');
    expect(transport.last.request).toMatchObject({ cols: 90, rows: 20 });
    expect(transport.last.resizes).toEqual([[90, 20]]);
  });

  it('stops for good once the process exited and everything was received', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    transport.last.events.output(0, text('bye\r\n'));
    transport.last.events.exit({ exitCode: 3, signal: null, endOffset: 5 });
    expect(conn.state).toMatchObject({ status: 'exited', exit: { exitCode: 3 } });
    expect(conn.input('x')).toBe(false);

    transport.last.events.closed('server closed');
    await new Promise((r) => setTimeout(r, 20));
    expect(transport.links).toHaveLength(1);
    expect(sink.screen).toBe('bye\r\n');
  });

  it('shows an already-ended session read-only without reconnecting', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push({ ...screenAttach('final screen', 12), exit: { exitCode: 0, signal: null, endOffset: 12 } });
    conn.start();
    await until(() => conn.state.status === 'exited', 'exited');
    expect(sink.screen).toBe('final screen');
    expect(transport.last.resizes).toEqual([]);
    expect(conn.state.complete).toBe(true);
  });

  it('reports the agent going away and coming back', async () => {
    const { transport, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    transport.last.events.agent({ connected: false, reason: 'agent reconnecting' });
    expect(conn.state).toMatchObject({ agentConnected: false, agentReason: 'agent reconnecting' });
    transport.last.events.agent({ connected: true, reason: null });
    expect(conn.state.agentConnected).toBe(true);
  });

  it('closes its link and stops retrying when disposed', async () => {
    const { transport, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    const link = transport.last;
    conn.dispose();
    expect(link.closed).toBe(true);
    link.events.closed('late');
    await new Promise((r) => setTimeout(r, 20));
    expect(transport.links).toHaveLength(1);
    expect(conn.state.status).toBe('disposed');
  });

  it('starts from a byte offset when asked, appending to what the terminal shows', async () => {
    const { transport, sink, conn } = setup({ from: 0 });
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    expect(transport.last.request.from).toBe(0);
    transport.last.events.output(0, text('hello'));
    expect(sink.resets).toBe(0);
    expect(sink.screen).toBe('hello');
    expect(transport.last.acks).toEqual([5]);
  });

  it('draws the screen when the offset it starts from was already trimmed away', async () => {
    const { transport, sink, conn } = setup({ from: 0 });
    transport.answers.push(replayAttach(500), screenAttach('[now]', 600));
    conn.start();
    await until(() => transport.links.length === 2 && conn.state.status === 'connected', 'screen attach');
    expect(transport.links[0]?.closed).toBe(true);
    expect(transport.last.request.from).toBe('screen');
    expect(sink.screen).toBe('[now]');
    expect(conn.nextOffset).toBe(600);
  });

  it('falls back to the screen when the server holds less than it resumes from, and acks the new stream', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    transport.last.events.output(0, text('abcdefgh'));
    expect(transport.last.acks).toEqual([8]);

    // The server lost its log (restarted empty): offset 8 is beyond what it stores.
    transport.answers.push(new AppError('BAD_REQUEST', 'offset 8 is beyond the stored output (2 bytes)'));
    transport.answers.push(screenAttach('[redrawn]', 2));
    transport.last.events.closed('transport close');
    await until(() => transport.links.length === 2 && conn.state.status === 'connected', 'screen attach');

    expect(transport.last.request.from).toBe('screen');
    expect(sink.resets).toBe(1);
    expect(sink.screen).toBe('[redrawn]');
    transport.last.events.output(2, text('xy'));
    expect(sink.screen).toBe('[redrawn]xy');
    // Numbering restarted below what was acknowledged before; acks follow the new stream.
    expect(transport.last.acks).toEqual([4]);
  });

  it('gives up when even a screen attach is refused as a bad request', async () => {
    const { transport, conn } = setup();
    transport.answers.push(new AppError('BAD_REQUEST', 'not a session id'));
    conn.start();
    await until(() => conn.state.status === 'failed', 'failure');
    expect(conn.state).toMatchObject({ error: 'not a session id', errorCode: 'BAD_REQUEST' });
    expect(transport.links).toHaveLength(0);
  });

  it('holds typed input until the session can take it, then sends it in order', async () => {
    const { transport, conn } = setup({ maxHeldInputChars: 10 });
    expect(conn.input('a')).toBe(true); // before any attach
    transport.answers.push({ ...replayAttach(0), running: false }); // the process does not exist yet
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    expect(conn.input('b')).toBe(true);
    expect(transport.last.inputs).toEqual([]);

    transport.last.events.agent({ connected: true, reason: null }); // the process started
    expect(transport.last.inputs).toEqual(['a', 'b']);
    expect(conn.input('c')).toBe(true);
    expect(transport.last.inputs).toEqual(['a', 'b', 'c']);

    transport.last.events.agent({ connected: false, reason: 'sandbox reconnecting' });
    expect(conn.input('d')).toBe(true);
    transport.answers.push(replayAttach(0));
    transport.last.events.closed('transport close');
    expect(conn.input('e')).toBe(true);
    expect(conn.input('far too long')).toBe(false); // the hold is bounded
    await until(() => transport.links.length === 2 && conn.state.status === 'connected', 're-attach');
    expect(transport.links[0]?.inputs).toEqual(['a', 'b', 'c']);
    expect(transport.last.inputs).toEqual(['d', 'e']);
  });

  it('refuses held input once the session has exited', async () => {
    const { transport, conn } = setup({ maxHeldInputChars: 10 });
    transport.answers.push({ ...replayAttach(0), running: false });
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    expect(conn.input('x')).toBe(true);
    transport.last.events.exit({ exitCode: 0, signal: null, endOffset: 0 });
    expect(conn.input('y')).toBe(false);
    transport.last.events.agent({ connected: true, reason: null });
    expect(transport.last.inputs).toEqual([]);
  });

  it('is complete only once the last byte before the exit is rendered', async () => {
    const { transport, sink, conn } = setup();
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    sink.hold = true;
    transport.last.events.output(0, text('bye'));
    transport.last.events.exit({ exitCode: 7, signal: null, endOffset: 3 });
    expect(conn.state).toMatchObject({ status: 'exited', complete: false });
    sink.flush();
    expect(conn.state).toMatchObject({ status: 'exited', complete: true, exit: { exitCode: 7 } });
  });

  it('sends signals only while attached and writable', async () => {
    const writable = setup();
    expect(writable.conn.signal('SIGINT')).toBe(false);
    writable.transport.answers.push(replayAttach(0));
    writable.conn.start();
    await until(() => writable.conn.state.status === 'connected', 'attach');
    expect(writable.conn.signal('SIGINT')).toBe(true);
    expect(writable.transport.last.signals).toEqual(['SIGINT']);
    writable.conn.dispose();

    const viewer = setup({ readOnly: true });
    viewer.transport.answers.push(replayAttach(0));
    viewer.conn.start();
    await until(() => viewer.conn.state.status === 'connected', 'attach');
    expect(viewer.conn.signal('SIGINT')).toBe(false);
    expect(viewer.transport.last.signals).toEqual([]);
  });

  it('attaches without a size when the terminal has none, and never resizes then', async () => {
    const { transport, conn, setSize } = setup();
    setSize(null);
    transport.answers.push(replayAttach(0));
    conn.start();
    await until(() => conn.state.status === 'connected', 'attach');
    expect(transport.last.request).not.toHaveProperty('cols');
    expect(transport.last.request).not.toHaveProperty('rows');
    expect(transport.last.resizes).toEqual([]);
  });
});

describe('chunkInput', () => {
  it('keeps small input whole and splits large pastes without breaking surrogate pairs', () => {
    expect(chunkInput('ls\r')).toEqual(['ls\r']);
    expect(chunkInput('')).toEqual([]);
    const emoji = '😀'; // two UTF-16 units
    const chunks = chunkInput(`a${emoji.repeat(5)}`, 4);
    expect(chunks.join('')).toBe(`a${emoji.repeat(5)}`);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(4);
      expect(() => encodeURIComponent(chunk)).not.toThrow(); // throws on a lone surrogate
    }
  });
});
