/**
 * Flow control end to end (real server, bwrap sandbox, agent): Ctrl-C during a flood brings the prompt back
 * in a real terminal, and a viewer that stops acknowledging is held to its window while another viewer of
 * the same flood keeps receiving. Bounds on bytes only; the time figures are in the benchmark suite.
 */
import { OffsetAssembler, type Task } from '@rclaude/protocol';
import { type RclaudeServer, rclaudeBin, startRclaudeServer, TmuxTerminal, until } from '@rclaude/testkit';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const MiB = 1024 * 1024;
/** The proxy's per-viewer window (VIEWER_WINDOW_BYTES) plus one agent frame. */
const WINDOW_BOUND = 2 * MiB + 256 * 1024;

let server: RclaudeServer;
const terminals: TmuxTerminal[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startRclaudeServer({ env: { OUTPUT_LOG_MAX_BYTES: String(8 * MiB) }, timeoutMs: 120_000 });
}, 180_000);

afterEach(() => {
  for (const t of terminals.splice(0)) t.close();
  for (const s of sockets.splice(0)) s.disconnect();
});

afterAll(async () => {
  await server?.stop();
});

describe('flow control end to end', () => {
  it('Ctrl-C during `yes` brings the prompt back in the terminal', async () => {
    const env = Object.entries(server.cliEnv())
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const t = new TmuxTerminal(`env ${env} ${rclaudeBin()} run -- bash --norc --noprofile`, {
      cols: 80,
      rows: 24,
    });
    terminals.push(t);
    await t.waitFor((s) => s.includes('$'), 60_000);
    t.type("PS1='FLOW-$((6*7))> '");
    t.keys('Enter');
    await t.waitFor((s) => s.includes('FLOW-42>'));
    t.type('yes');
    t.keys('Enter');
    // The screen fills with y's: the flood is on and flow control is pacing it to the terminal.
    await t.waitFor((s) => s.split('\n').filter((l) => l === 'y').length > 10);
    t.keys('C-c');
    const screen = await t.waitFor((s) => {
      const lines = s.trimEnd().split('\n');
      return (lines.at(-1) ?? '').startsWith('FLOW-42>');
    }, 30_000);
    expect(screen).toContain('^C');
    t.type('exit 5');
    t.keys('Enter');
    await until('the CLI to exit with the remote code', () => t.exitStatus() === 5, 30_000);
  }, 120_000);

  it('holds a viewer that stops acknowledging to its window while another keeps up with the flood', async () => {
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ command: ['yes', 'flow control'] }),
    });
    const task = (await res.json()) as Task;
    const viewer = async (acking: boolean) => {
      const socket = io(`${server.url}/client`, { transports: ['websocket'], auth: { token: server.token } });
      sockets.push(socket);
      const v = { received: 0, gaps: 0, assembler: new OffsetAssembler(0) };
      socket.on('pty:output', (_id: string, offset: number, data: Uint8Array) => {
        const fresh = v.assembler.accept(offset, new Uint8Array(data));
        if (fresh === 'gap') {
          v.gaps++;
          return;
        }
        v.received += fresh.byteLength;
        if (acking) socket.emit('pty:ack', { sessionId: task.mainSessionId, offset: v.assembler.next });
      });
      await new Promise<void>((resolve, reject) =>
        socket.emit('session:attach', { sessionId: task.mainSessionId, from: 0 }, (r: { ok: boolean }) =>
          r.ok ? resolve() : reject(new Error(JSON.stringify(r))),
        ),
      );
      return v;
    };
    const slow = await viewer(false);
    const fast = await viewer(true);
    // Four times the proxy's log and sixteen windows: the fast viewer gets it all, in order, without a gap.
    await until('the fast viewer to get 32 MiB', () => fast.received > 32 * MiB, 120_000);
    expect(fast.gaps).toBe(0);
    expect(slow.received).toBeGreaterThan(0);
    expect(slow.received).toBeLessThanOrEqual(WINDOW_BOUND);
    await fetch(`${server.url}/api/tasks/${task.id}/stop`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.token}` },
    });
  }, 180_000);
});
