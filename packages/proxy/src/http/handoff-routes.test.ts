/**
 * Forks and uploads on the server (docs/moving-work.md), against the real composition root with fake agents:
 * an upload becomes a task's first checkpoint and is checked as hostile input (paths, entries, sizes, hashes,
 * the size limit), leaving nothing behind when refused; forks copy the latest checkpoint for the source's owner
 * only, and the checkpoint read routes answer only for files the manifest names.
 */
import { createHash } from 'node:crypto';
import {
  CHECKPOINT_FORMAT,
  type Checkpoint,
  type CheckpointManifest,
  IMPORT_HEADER_ENTRY,
  type ManifestEntry,
  type Task,
} from '@rclaude/protocol';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function manifestOf(entries: ManifestEntry[], claudeSessionId: string | null = null): CheckpointManifest {
  return {
    format: CHECKPOINT_FORMAT,
    createdAt: new Date().toISOString(),
    workspace: '/home/me/app',
    excluded: [],
    claudeSessionId,
    entries,
  };
}

/** A tar: `header` (as the first entry, unless `headerName` says otherwise), then each blob named by `name`. */
async function archive(
  header: unknown,
  blobs: { name: string; bytes: Buffer }[],
  headerName = IMPORT_HEADER_ENTRY,
): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => {
      if (Buffer.isBuffer(c)) chunks.push(c);
    });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  pack.entry({ name: headerName }, Buffer.from(JSON.stringify(header)));
  for (const b of blobs) pack.entry({ name: b.name }, b.bytes);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

const hello = Buffer.from('hello from the laptop\n');
const convo = Buffer.from('{"type":"user","cwd":"/home/me/app"}\n');
const goodEntries: ManifestEntry[] = [
  { type: 'file', root: 'workspace', path: 'hello.txt', mode: 0o644, size: hello.length, hash: sha(hello) },
  { type: 'dir', root: 'workspace', path: 'src', mode: 0o755 },
  { type: 'symlink', root: 'workspace', path: 'src/link', target: '../hello.txt' },
  { type: 'file', root: 'claude', path: 's1.jsonl', mode: 0o600, size: convo.length, hash: sha(convo) },
];

describe('uploads and forks', () => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startTestStack('embedded', { env: { RCLAUDE_IMPORT_MAX_BYTES: '100000' } });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    await stack?.close();
  });

  const upload = async (token: string, body: Buffer) =>
    stack.api(token, 'POST', '/api/imports', { raw: new Uint8Array(body), contentType: 'application/octet-stream' });
  const taskCount = async (token: string) =>
    ((await stack.api(token, 'GET', '/api/tasks')).body.tasks as Task[]).length;

  it('starts a task from an upload: its first checkpoint, readable through the manifest and blob routes', async () => {
    const body = await archive(
      { task: { command: ['sh'], name: 'from laptop' }, manifest: manifestOf(goodEntries, 's1') },
      [
        { name: sha(hello), bytes: hello },
        { name: sha(convo), bytes: convo },
      ],
    );
    const res = await upload(alice.token, body);
    expect(res.status, res.text).toBe(201);
    const task = res.body as Task;
    expect(task).toMatchObject({ name: 'from laptop', owner: alice.id, command: ['sh'], forkOf: null });
    const { checkpoints } = (await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/checkpoints`)).body as {
      checkpoints: Checkpoint[];
    };
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]).toMatchObject({ trigger: 'import', files: 2, claudeSessionId: 's1' });
    const cp = checkpoints[0]?.id ?? '';
    const manifest = await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/checkpoints/${cp}/manifest`);
    expect((manifest.body as CheckpointManifest).entries).toEqual(goodEntries);
    const blob = await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/checkpoints/${cp}/blobs/${sha(hello)}`);
    expect(blob.status).toBe(200);
    expect(blob.text).toBe(hello.toString());
    // A hash the manifest does not name is not served, even when the owner stores it.
    const other = await stack.api(
      alice.token,
      'GET',
      `/api/tasks/${task.id}/checkpoints/${cp}/blobs/${'0'.repeat(64)}`,
    );
    expect(other.status).toBe(404);
    // Its sandbox restores it before the program starts: the session asks the agent for it.
    await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/stop`, { body: { force: true } });
  });

  it('refuses hostile uploads plainly and keeps nothing of them', async () => {
    const before = await taskCount(bob.token);
    const cases: { what: string; body: Buffer; status: number; message: RegExp }[] = [
      {
        what: 'a path leaving the workspace',
        body: await archive(
          {
            task: {},
            manifest: manifestOf([
              { type: 'file', root: 'workspace', path: '../x', mode: 0o644, size: 1, hash: sha(Buffer.from('x')) },
            ]),
          },
          [{ name: sha(Buffer.from('x')), bytes: Buffer.from('x') }],
        ),
        status: 400,
        message: /relative, with no empty, "\." or "\.\." segment/,
      },
      {
        what: 'an absolute path',
        body: await archive(
          { task: {}, manifest: manifestOf([{ type: 'dir', root: 'workspace', path: '/etc', mode: 0o755 }]) },
          [],
        ),
        status: 400,
        message: /import header is not valid/,
      },
      {
        what: 'a blob the manifest does not name',
        body: await archive({ task: {}, manifest: manifestOf(goodEntries) }, [
          { name: sha(hello), bytes: hello },
          { name: sha(Buffer.from('extra')), bytes: Buffer.from('extra') },
        ]),
        status: 400,
        message: /must be a blob the manifest names/,
      },
      {
        what: 'bytes that do not match their hash',
        body: await archive({ task: {}, manifest: manifestOf(goodEntries.slice(0, 1)) }, [
          { name: sha(hello), bytes: Buffer.from('HELLO FROM THE LAPTOP\n') },
        ]),
        status: 422,
        message: /.+/,
      },
      {
        what: 'a blob left out',
        body: await archive({ task: {}, manifest: manifestOf(goodEntries) }, [{ name: sha(hello), bytes: hello }]),
        status: 422,
        message: /lacks 1 blob/,
      },
      {
        what: 'no header first',
        body: await archive({ task: {}, manifest: manifestOf([]) }, [], 'something-else.json'),
        status: 400,
        message: /first entry of an import must be rclaude-import\.json/,
      },
      {
        what: 'an upload over RCLAUDE_IMPORT_MAX_BYTES',
        body: await (async () => {
          const big = Buffer.alloc(200_000, 7);
          const entries: ManifestEntry[] = [
            { type: 'file', root: 'workspace', path: 'big.bin', mode: 0o644, size: big.length, hash: sha(big) },
          ];
          return archive({ task: {}, manifest: manifestOf(entries) }, [{ name: sha(big), bytes: big }]);
        })(),
        status: 413,
        message: /RCLAUDE_IMPORT_MAX_BYTES/,
      },
    ];
    for (const c of cases) {
      const res = await upload(bob.token, c.body);
      expect(res.status, `${c.what}: ${res.text}`).toBe(c.status);
      expect(res.body.error.message, c.what).toMatch(c.message);
    }
    expect(await taskCount(bob.token)).toBe(before);
  });

  it("forks a task for its owner only: another user's is not found; an admin's fork is the owner's", async () => {
    const { task } = await stack.startTask(alice.token);
    const foreign = await stack.api(bob.token, 'POST', `/api/tasks/${task.id}/fork`, { body: { count: 1 } });
    expect(foreign.status).toBe(404);
    expect(await taskCount(bob.token)).toBe(0);
    const tooMany = await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/fork`, { body: { count: 11 } });
    expect(tooMany.status).toBe(400);

    const res = await stack.api(stack.admin.token, 'POST', `/api/tasks/${task.id}/fork`, { body: { count: 2 } });
    expect(res.status, res.text).toBe(201);
    const forks = res.body.tasks as Task[];
    expect(forks.map((f) => [f.owner, f.forkOf, f.pushBranch])).toEqual([
      [alice.id, task.id, null],
      [alice.id, task.id, null],
    ]);
    const listed = (await stack.api(alice.token, 'GET', `/api/tasks?forkOf=${task.id}`)).body.tasks as Task[];
    expect(listed.map((t) => t.id).sort()).toEqual(forks.map((f) => f.id).sort());
    for (const f of forks) {
      const { checkpoints } = (await stack.api(alice.token, 'GET', `/api/tasks/${f.id}/checkpoints`)).body as {
        checkpoints: Checkpoint[];
      };
      expect(checkpoints.map((c) => c.trigger)).toEqual(['fork']);
    }
  });
});
