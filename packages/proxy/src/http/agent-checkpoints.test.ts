/**
 * The agent's checkpoint routes as a sandbox reaches them: a fake agent (test-stack) uploads through the real
 * proxy, and these tests play both an honest agent and a hostile one (forged keys, another sandbox, bytes that
 * do not match their name, manifests that escape or name what was never sent).
 */
import { createHash } from 'node:crypto';
import { CHECKPOINT_FORMAT, type ManifestEntry } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** A tar of blobs as the agent sends them: one regular file per blob, named by a hash (normally its own). */
async function blobTar(blobs: { name: string; data: Buffer }[]): Promise<Uint8Array<ArrayBuffer>> {
  const pack = tar.pack();
  for (const b of blobs) pack.entry({ name: b.name, size: b.data.byteLength }, b.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

function manifest(entries: unknown[]): string {
  return JSON.stringify({
    format: CHECKPOINT_FORMAT,
    createdAt: new Date().toISOString(),
    workspace: '/workspace',
    excluded: [],
    claudeSessionId: null,
    entries,
  });
}

describe('agent checkpoint routes', () => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startTestStack('embedded');
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('stores what an agent uploads, asks only for blobs it lacks, and lists the checkpoint', async () => {
    const { task, agent } = await stack.startTask(alice.token);
    const notes = Buffer.from('remember the pelican\n');
    const entries: ManifestEntry[] = [
      { type: 'dir', root: 'workspace', path: 'src', mode: 0o755 },
      {
        type: 'file',
        root: 'workspace',
        path: 'src/notes.txt',
        mode: 0o644,
        size: notes.byteLength,
        hash: sha256(notes),
      },
      { type: 'symlink', root: 'workspace', path: 'src/passwd', target: '../../../etc/passwd' },
    ];
    const asked: string[][] = [];
    agent.onCheckpoint = async (cp) => {
      const missing = await agent.checkpointRequest(
        'POST',
        `${cp}/missing`,
        JSON.stringify({ hashes: [sha256(notes)] }),
      );
      expect(missing.status).toBe(200);
      const lacking = ((await missing.json()) as { missing: string[] }).missing;
      asked.push(lacking);
      if (lacking.length > 0) {
        const put = await agent.checkpointRequest(
          'PUT',
          `${cp}/blobs`,
          await blobTar([{ name: sha256(notes), data: notes }]),
        );
        expect(await put.json()).toEqual({ blobs: 1, bytes: notes.byteLength });
      }
      const res = await agent.checkpointRequest('PUT', `${cp}/manifest`, manifest(entries));
      expect(res.status, await res.clone().text()).toBe(200);
    };
    const first = await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/checkpoints`, { body: {} });
    expect(first.status, first.text).toBe(201);
    expect(first.body).toMatchObject({ taskId: task.id, trigger: 'manual', files: 1, bytes: notes.byteLength });
    expect(first.body.uploadedBytes).toBe(notes.byteLength);
    const second = await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/checkpoints`, { body: {} });
    expect(second.status).toBe(201);
    // The second time the store had the blob: nothing to send.
    expect(asked).toEqual([[sha256(notes)], []]);
    expect(second.body.uploadedBytes).toBe(0);
    const listed = await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/checkpoints`);
    expect(listed.body.checkpoints.map((c: { id: string }) => c.id)).toEqual([second.body.id, first.body.id]);

    // The agent reads back exactly what it stored; another task's sandbox reads nothing of it.
    const back = await agent.checkpointRequest('GET', `${first.body.id}/manifest`);
    expect(((await back.json()) as { entries: unknown[] }).entries).toEqual(entries);
    const other = await stack.startTask(bob.token);
    expect((await other.agent.checkpointRequest('GET', `${first.body.id}/manifest`)).status).toBe(404);
    expect((await other.agent.checkpointRequest('GET', `${first.body.id}/blobs`)).status).toBe(404);
  });

  it('refuses forged, foreign and hostile uploads; the stop that needed the checkpoint fails and keeps the task, unless forced', async () => {
    const { task, agent } = await stack.startTask(alice.token);
    const bobs = await stack.startTask(bob.token);
    const good = Buffer.from('good bytes');
    const statuses: Record<string, number> = {};
    let checkpointId = '';
    agent.onCheckpoint = async (cp) => {
      checkpointId = cp;
      const ask = JSON.stringify({ hashes: [sha256(good)] });
      statuses.forgedKey = (
        await agent.checkpointRequest('POST', `${cp}/missing`, ask, { key: 'A'.repeat(43) })
      ).status;
      statuses.anotherSandbox = (await bobs.agent.checkpointRequest('POST', `${cp}/missing`, ask)).status;
      statuses.notAHash = (await agent.checkpointRequest('POST', `${cp}/missing`, '{"hashes":["../../x"]}')).status;
      // Bytes that are not what their name says are refused, and not stored.
      statuses.wrongBytes = (
        await agent.checkpointRequest(
          'PUT',
          `${cp}/blobs`,
          await blobTar([{ name: sha256(good), data: Buffer.from('evil') }]),
        )
      ).status;
      const still = await agent.checkpointRequest('POST', `${cp}/missing`, ask);
      statuses.stillMissing = ((await still.json()) as { missing: string[] }).missing.length;
      statuses.badName = (
        await agent.checkpointRequest('PUT', `${cp}/blobs`, await blobTar([{ name: '../escape', data: good }]))
      ).status;
      statuses.escapingPath = (
        await agent.checkpointRequest(
          'PUT',
          `${cp}/manifest`,
          manifest([{ type: 'dir', root: 'workspace', path: '../outside', mode: 0o755 }]),
        )
      ).status;
      statuses.unsentBlob = (
        await agent.checkpointRequest(
          'PUT',
          `${cp}/manifest`,
          manifest([{ type: 'file', root: 'workspace', path: 'a', mode: 0o644, size: 10, hash: sha256(good) }]),
        )
      ).status;
      throw new Error('the sandbox gave up');
    };

    const stop = await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/stop`, { body: {} });
    expect(statuses).toEqual({
      forgedKey: 401,
      anotherSandbox: 404,
      notAHash: 400,
      wrongBytes: 422,
      stillMissing: 1,
      badName: 400,
      escapingPath: 422,
      unsentBlob: 422,
    });
    expect(stop.status).toBe(502);
    expect(stop.body.error.code).toBe('CHECKPOINT_FAILED');
    expect(stop.body.error.message).toContain(`rclaude stop ${task.id} --force`);
    expect((await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`)).body.status).toBe('running');
    const events = (await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/events`)).body.events;
    expect(events.find((e: { type: string }) => e.type === 'checkpoint')?.data).toMatchObject({
      trigger: 'stop',
      error: expect.stringContaining('the sandbox gave up'),
    });
    // The failed checkpoint is gone: nothing can be uploaded to it afterwards, and nothing was listed.
    expect((await agent.checkpointRequest('PUT', `${checkpointId}/manifest`, manifest([]))).status).toBe(404);
    expect((await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/checkpoints`)).body.checkpoints).toEqual([]);

    const forced = await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/stop`, { body: { force: true } });
    expect(forced.status).toBe(200);
    expect(forced.body.status).toBe('stopped');
  });

  it('resumes a stopped task once when asked twice at once: one sandbox, the other request refused', async () => {
    const { task } = await stack.startTask(alice.token);
    expect((await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/stop`)).body.status).toBe('stopped');
    const sandboxesBefore = stack.started.filter((s) => s.taskId === task.id).length;
    const answers = await Promise.all([
      stack.api(alice.token, 'POST', `/api/tasks/${task.id}/resume`, { body: {} }),
      stack.api(alice.token, 'POST', `/api/tasks/${task.id}/resume`, { body: {} }),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const running = await until(
      'the resumed task to run',
      async () => {
        const t = (await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`)).body;
        return t.status === 'running' ? t : null;
      },
      10_000,
    );
    expect(running.statusReason).toMatch(/^resumed from checkpoint cp_[a-z0-9]+ \(stop, taken .* before\)$/);
    expect(stack.started.filter((s) => s.taskId === task.id).length).toBe(sandboxesBefore + 1);
    // The session runs in the sandbox the winner started, the one its agent connected from.
    const state = await stack.stores.sessions.get(task.mainSessionId);
    expect(state?.sandboxId).toBe(stack.started.filter((s) => s.taskId === task.id).at(-1)?.sandboxId);
  });
});
