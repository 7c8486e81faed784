/**
 * Co-driving from the CLI end to end (docs/sharing.md#co-driving), through real processes: `rclaude server`
 * (embedded storage, a bubblewrap sandbox running bash, the real agent), the owner's `rclaude` through the
 * linked bin (`share --drive`, `share requests`, `share accept`, `share revoke`, and an attached terminal in
 * tmux), and a second user of the server on a Socket.io connection with the link, as the web share page makes.
 * The second user's keystrokes run in the sandbox only between the owner's accept and revoke.
 */
import type { Ack, AttachResult, DriveRequest, ErrorInfo, Share, Task } from '@rclaude/protocol';
import { type RclaudeServer, runCli, startRclaudeServer, Terminals, type TmuxTerminal, until } from '@rclaude/testkit';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let server: RclaudeServer;
let bobToken: string;
const terminals = new Terminals();
const sockets: Socket[] = [];

/** What the server sends a client whose event it refused. */
interface SessionError {
  sessionId: string | null;
  event: string;
  error: ErrorInfo;
}

beforeAll(async () => {
  server = await startRclaudeServer({});
  await server.requestOk('POST', '/api/users', {
    body: { username: 'bob', password: 'correct horse battery', role: 'user' },
  });
  const login = await fetch(`${server.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'bob', password: 'correct horse battery' }),
  });
  expect(login.status).toBe(200);
  bobToken = ((await login.json()) as { token: string }).token;
});

afterAll(async () => {
  await server?.stop();
});

afterEach(() => {
  terminals.closeAll();
  for (const s of sockets.splice(0)) s.disconnect();
});

const cli = (args: string[]) => runCli(args, { env: server.cliEnv() });

function terminal(args: string): TmuxTerminal {
  return terminals.rclaude(server.cliEnv(), args, { cols: 120, rows: 30 });
}

/** The id and secret of a share URL (`…/share/sh_…#SECRET`). */
function linkParts(url: string): { id: string; secret: string } {
  const m = /\/share\/(sh_[a-z0-9]{16})#([A-Za-z0-9_-]{43})$/.exec(url);
  if (!m?.[1] || !m[2]) throw new Error(`not a share URL: ${url}`);
  return { id: m[1], secret: m[2] };
}

/** Bob on the link, signed in, attached to the shared terminal: what he hears and sees. */
async function bobOnLink(url: string, sessionId: string) {
  const { id, secret } = linkParts(url);
  const socket = io(`${server.url}/client`, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: { token: bobToken, share: { id, secret } },
  });
  sockets.push(socket);
  const errors: SessionError[] = [];
  const decisions: DriveRequest[] = [];
  let output = '';
  socket.on('session:error', (e: SessionError) => errors.push(e));
  socket.on('share:drive-request', (r: DriveRequest) => decisions.push(r));
  socket.on('pty:output', (_sessionId: string, _offset: number, data: Uint8Array) => {
    output += Buffer.from(data).toString('utf8');
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (err) => reject(err));
  });
  const attached = (await socket
    .timeout(10_000)
    .emitWithAck('session:attach', { sessionId, from: 'screen' })) as Ack<AttachResult>;
  expect(attached.ok).toBe(true);
  return { socket, errors, decisions, output: () => output };
}

describe('rclaude share --drive', () => {
  it('lets a signed-in user type once the owner accepts from the CLI, and never after the owner revokes', async () => {
    // The shared program echoes each line it reads: what reaches the sandbox shows in the output.
    const started = await cli([
      'run',
      '--detach',
      '--json',
      '--name',
      'codrive-cli',
      '--',
      'bash',
      '-c',
      'while IFS= read -r l; do echo "got:$l"; done',
    ]);
    expect(started.code, started.stderr).toBe(0);
    const task = JSON.parse(started.stdout) as Task;
    await until(
      'the task to run',
      async () => (await server.requestOk<Task>('GET', `/api/tasks/${task.id}`)).status === 'running',
    );

    const shared = await cli(['share', task.id, '--drive', '--json']);
    expect(shared.code, shared.stderr).toBe(0);
    const { share, url } = JSON.parse(shared.stdout) as { share: Share; url: string };
    expect(share.kind).toBe('drive');

    // Nobody asked yet: the listing says so and how to make a link.
    const none = await cli(['share', 'requests', task.id]);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout).toContain('nobody has asked to type');

    // The owner watches in an attached terminal.
    const owner = terminal(`attach ${task.id}`);
    await until('the owner to attach', async () => {
      const info = await server.requestOk<{ sessions: { clients: number }[] }>('GET', `/api/tasks/${task.id}/sessions`);
      return (info.sessions[0]?.clients ?? 0) >= 1;
    });

    const bob = await bobOnLink(url, task.mainSessionId);
    bob.socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'too-early\r' });
    await until('the early input refused', () => bob.errors.some((e) => e.error.code === 'READ_ONLY'));

    const asked = (await bob.socket.timeout(10_000).emitWithAck('share:drive', {})) as Ack<DriveRequest>;
    if (!asked.ok) throw new Error(asked.error.message);
    const requestId = asked.data.id;

    // The attached owner hears of it, with the command that answers it.
    await owner.waitFor((s) => s.includes(`bob asks to type: \`rclaude share accept ${requestId}\``), 30_000);
    const pending = await cli(['share', 'requests', task.id, '--json']);
    expect(pending.code, pending.stderr).toBe(0);
    expect(JSON.parse(pending.stdout)).toEqual([
      expect.objectContaining({ id: requestId, user: 'bob', state: 'pending', shareId: share.id }),
    ]);
    const table = await cli(['share', 'requests', task.id]);
    expect(table.stdout).toMatch(new RegExp(`${requestId}\\s+bob\\s+pending`));
    expect(table.stderr).toContain(`rclaude share accept ${requestId}`);

    // Accepted: Bob is told, and his keystrokes run in the sandbox.
    const accepted = await cli(['share', 'accept', requestId, '--json']);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(JSON.parse(accepted.stdout)).toMatchObject({ id: requestId, state: 'accepted', decidedBy: 'admin' });
    await until('Bob to hear he may type', () => bob.decisions.some((r) => r.state === 'accepted'));
    bob.socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'from-bob\r' });
    await until('Bob’s line to run', () => bob.output().includes('got:from-bob'));
    await owner.waitFor((s) => s.includes('got:from-bob'));
    await owner.waitFor((s) => s.includes('bob may now type'));

    // Deciding again is refused plainly, and a made-up id is not a request.
    const twice = await cli(['share', 'accept', requestId]);
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toContain('rclaude share requests TASK');
    const bogus = await cli(['share', 'accept', 'not-a-request']);
    expect(bogus.code).not.toBe(0);
    expect(bogus.stderr).toContain('is not a drive request id');

    // Revoked: the next keystrokes are refused and nothing more reaches the sandbox.
    const revoked = await cli(['share', 'revoke', requestId]);
    expect(revoked.code, revoked.stderr).toBe(0);
    await until('Bob to hear he may no longer type', () => bob.decisions.some((r) => r.state === 'revoked'));
    const refusedBefore = bob.errors.filter((e) => e.error.code === 'READ_ONLY').length;
    bob.socket.emit('pty:input', { sessionId: task.mainSessionId, data: 'after-revoke\r' });
    await until(
      'the input after the revocation to be refused',
      () => bob.errors.filter((e) => e.error.code === 'READ_ONLY').length > refusedBefore,
    );
    // The owner's own line after it runs; Bob's never did.
    owner.type('owner-marker');
    owner.keys('Enter');
    await owner.waitFor((s) => s.includes('got:owner-marker'));
    await until('Bob to see the owner’s line', () => bob.output().includes('got:owner-marker'));
    expect(bob.output()).not.toContain('got:after-revoke');
    expect(bob.output()).not.toContain('got:too-early');

    const listed = await cli(['share', 'requests', task.id, '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: requestId, state: 'revoked' })]);
    await cli(['stop', task.id]);
  }, 180_000);
});
