/**
 * The checkpoint sweeper (RCLAUDE_CHECKPOINT_SWEEP_MS), through the real proxy and its fake agents, on both
 * stores: `sweep()` is driven directly (the timer only calls it), checkpoints are made old by moving their
 * `created_at` back in the database, and the lease is handed back between tests by setting it in the past.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CHECKPOINT_FORMAT } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';
import { type CheckpointBlobStore, createBlobStore } from '../checkpoints/blob-store.js';
import { CheckpointSweeper } from '../services/checkpoint-sweeper.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A manifest whose one file holds `data` (its blob must be stored already). */
const manifestNaming = (data: Buffer) =>
  JSON.stringify({
    format: CHECKPOINT_FORMAT,
    createdAt: new Date().toISOString(),
    workspace: '/workspace',
    excluded: [],
    claudeSessionId: null,
    entries: [{ type: 'file', root: 'workspace', path: 'a', mode: 0o644, size: data.byteLength, hash: sha256(data) }],
  });

describe.each(['embedded', 'postgres+redis'] as const)('checkpoint sweeper (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;
  let blobs: CheckpointBlobStore;

  beforeAll(async () => {
    stack = await startTestStack(kind, { env: { RCLAUDE_CHECKPOINT_MAX_AGE_DAYS: '1' } });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
    // The same local store the proxy writes (its data directory), to place and look at blobs.
    blobs = createBlobStore(stack.server.config, stack.server.config.dataDir);
  });
  afterAll(async () => {
    await blobs?.close();
    await stack?.close();
  });

  /** The proxy's checkpoint service, for a second sweeper over the same database. */
  const service = () => {
    const s = stack.server.checkpoints;
    if (!s) throw new Error('the server has no checkpoint service');
    return s;
  };
  const sweeper = () => {
    const s = stack.server.checkpointSweeper;
    if (!s) throw new Error('the server has no checkpoint sweeper');
    return s;
  };
  const freeLease = async () => {
    await stack.stores.db.pool.query(`UPDATE checkpoint_sweep_lease SET claimed_until = '-infinity'`);
  };
  const checkpoint = async (token: string, taskId: string): Promise<string> => {
    const res = await stack.api(token, 'POST', `/api/tasks/${taskId}/checkpoints`, { body: {} });
    expect(res.status, res.text).toBe(201);
    return res.body.id as string;
  };
  const ids = async (token: string, taskId: string): Promise<string[]> =>
    (await stack.api(token, 'GET', `/api/tasks/${taskId}/checkpoints`)).body.checkpoints.map(
      (c: { id: string }) => c.id,
    );
  /** Makes a stored blob look uploaded `minutes` ago (the local store dates blobs by their file's mtime). */
  const backdate = (hash: string, minutes: number) => {
    const dir = stack.server.config.dataDir;
    const found = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => path.basename(f) === hash);
    expect(found).toHaveLength(1);
    const when = new Date(Date.now() - minutes * 60_000);
    fs.utimesSync(path.join(dir, found[0] as string), when, when);
  };
  const storedHashes = async (owner: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const b of blobs.listBlobs(owner)) out.push(b.hash);
    return out.sort();
  };

  it('expires the old checkpoints of a user who takes no new one, keeping each task newest', async () => {
    const a = await stack.startTask(alice.token);
    const a1 = await checkpoint(alice.token, a.task.id);
    const a2 = await checkpoint(alice.token, a.task.id);
    const b = await stack.startTask(alice.token);
    const b1 = await checkpoint(alice.token, b.task.id);
    const c = await stack.startTask(bob.token);
    const c1 = await checkpoint(bob.token, c.task.id);
    const c2 = await checkpoint(bob.token, c.task.id);
    const aged = await stack.stores.db.pool.query(
      `UPDATE checkpoints SET created_at = created_at - make_interval(days => 2) WHERE id = ANY($1)`,
      [[a1, a2, b1]],
    );
    expect(aged.rowCount).toBe(3);
    await freeLease();

    const result = await sweeper().sweep();

    expect(result).toMatchObject({ held: true, owners: 2, deleted: 1, lost: false });
    expect(await ids(alice.token, a.task.id)).toEqual([a2]);
    // A task's newest is kept, however old: it can still be resumed.
    expect(await ids(alice.token, b.task.id)).toEqual([b1]);
    // Bob's are young.
    expect(await ids(bob.token, c.task.id)).toEqual([c2, c1]);
  });

  it('frees a blob no manifest names once older than the grace, and keeps a named one', async () => {
    const { task, agent } = await stack.startTask(bob.token);
    const named = Buffer.from('a file the checkpoint holds\n');
    const orphan = Buffer.from('uploaded, then never named\n');
    await blobs.putBlob(bob.id, sha256(named), named.byteLength, Readable.from([named]));
    await blobs.putBlob(bob.id, sha256(orphan), orphan.byteLength, Readable.from([orphan]));
    agent.onCheckpoint = async (cp) => {
      const res = await agent.checkpointRequest('PUT', `${cp}/manifest`, manifestNaming(named));
      expect(res.status, await res.clone().text()).toBe(200);
    };
    await checkpoint(bob.token, task.id);
    const both = [sha256(named), sha256(orphan)].sort();
    expect(await storedHashes(bob.id)).toEqual(both);

    // Within the grace (an upload whose manifest may still come): spared.
    const config = {
      db: stack.stores.db.pool,
      records: stack.stores.checkpoints,
      checkpoints: service(),
      log: stack.server.log,
    };
    await freeLease();
    const patient = new CheckpointSweeper({ ...config, intervalMs: 0, graceMs: 60 * 60_000 });
    expect(await patient.sweep()).toMatchObject({ held: true, freedBlobs: 0 });
    expect(await storedHashes(bob.id)).toEqual(both);

    // Past the grace: the orphan goes, the named blob stays.
    await freeLease();
    const eager = new CheckpointSweeper({ ...config, intervalMs: 0, graceMs: 0 });
    expect(await eager.sweep()).toMatchObject({ held: true, freedBlobs: 1, freedBytes: orphan.byteLength });
    expect(await storedHashes(bob.id)).toEqual([sha256(named)]);
  });

  it('leaves the blobs of checkpoints a new checkpoint expired to the sweeper', async () => {
    const { task, agent } = await stack.startTask(bob.token);
    const data = Buffer.from('only the old checkpoint names this\n');
    await blobs.putBlob(bob.id, sha256(data), data.byteLength, Readable.from([data]));
    // Past the proxy's own grace (1 minute): a collection at the checkpoint would free it.
    backdate(sha256(data), 10);
    agent.onCheckpoint = async (cp) => {
      const res = await agent.checkpointRequest('PUT', `${cp}/manifest`, manifestNaming(data));
      expect(res.status, await res.clone().text()).toBe(200);
    };
    const old = await checkpoint(bob.token, task.id);
    agent.onCheckpoint = null;
    const empty = await checkpoint(bob.token, task.id);
    await stack.stores.db.pool.query(
      `UPDATE checkpoints SET created_at = created_at - make_interval(days => 2) WHERE id = $1`,
      [old],
    );
    const latest = await checkpoint(bob.token, task.id);
    expect(await ids(bob.token, task.id)).toEqual([latest, empty]);
    // The expired manifest is gone, its blob is not: the checkpoint did not read all of Bob's manifests.
    expect(await storedHashes(bob.id)).toContain(sha256(data));
    await freeLease();
    const eager = new CheckpointSweeper({
      db: stack.stores.db.pool,
      records: stack.stores.checkpoints,
      checkpoints: service(),
      log: stack.server.log,
      intervalMs: 0,
      graceMs: 0,
    });
    expect(await eager.sweep()).toMatchObject({ held: true, skipped: 0 });
    expect(await storedHashes(bob.id)).not.toContain(sha256(data));
  });

  it('lets one sweeper run at a time: the others report they did not hold the lease', async () => {
    await freeLease();
    const other = new CheckpointSweeper({
      db: stack.stores.db.pool,
      records: stack.stores.checkpoints,
      checkpoints: service(),
      log: stack.server.log,
      intervalMs: 0,
    });
    const results = await Promise.all([sweeper().sweep(), other.sweep(), sweeper().sweep()]);
    expect(results.filter((r) => r.held)).toHaveLength(1);
    expect(results.filter((r) => !r.held)).toEqual([{ held: false }, { held: false }]);
    // The lease lasts: a later try, before it ends, does not sweep either.
    expect(await other.sweep()).toEqual({ held: false });
    await other.close();
  });

  it('sweeps on its timer once started, and stops on close', async () => {
    const { task } = await stack.startTask(alice.token);
    const old = await checkpoint(alice.token, task.id);
    const newest = await checkpoint(alice.token, task.id);
    await stack.stores.db.pool.query(
      `UPDATE checkpoints SET created_at = created_at - make_interval(days => 2) WHERE id = $1`,
      [old],
    );
    await freeLease();
    const timed = new CheckpointSweeper({
      db: stack.stores.db.pool,
      records: stack.stores.checkpoints,
      checkpoints: service(),
      log: stack.server.log,
      intervalMs: 30,
      leaseMs: 60_000,
    });
    timed.start();
    try {
      await until(
        'the timed sweep expired the old checkpoint',
        async () => {
          const left = await ids(alice.token, task.id);
          return left.length === 1 && left[0] === newest;
        },
        10_000,
        20,
      );
    } finally {
      await timed.close();
    }
    expect(await timed.sweep()).toEqual({ held: false });
  });
});
