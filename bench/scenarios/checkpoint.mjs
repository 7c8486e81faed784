/**
 * checkpoint_first_ms, checkpoint_incremental_ms, restore_ms: the agent's pack and restore code (its built
 * modules, as a sandbox runs them) against the proxy's real checkpoint routes and local blob store, served in
 * this process on a Unix socket as the agent socket is. The workspace is generated under a temp dir: `files`
 * files totalling about `mb` MB (most small, a few of 1 MB, random bytes so none deduplicate), a `.git`-like
 * folder, and a node_modules the ignore policy leaves out. The incremental checkpoint follows a change to one
 * file; the restore goes into an empty workspace and is checked file for file.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { packCheckpoint } from '../../packages/agent/dist/checkpoint/pack.js';
import { CheckpointClient } from '../../packages/agent/dist/checkpoint/proxy-client.js';
import { restoreCheckpoint } from '../../packages/agent/dist/checkpoint/restore.js';
import { HashCache } from '../../packages/agent/dist/checkpoint/scan.js';
import { LocalBlobStore } from '../../packages/proxy/dist/checkpoints/local-blob-store.js';
import { egressKeyFor } from '../../packages/proxy/dist/egress/egress-key.js';
import { createAgentCheckpointRoutes } from '../../packages/proxy/dist/http/agent-checkpoints.js';

const SANDBOX = 'sb_bench';
const TASK = 'task_bench';
const OWNER = 'usr_bench';

/** Checkpoint records in memory: just what the routes read and write. */
function memoryRecords() {
  const records = new Map();
  return {
    begin(id) {
      records.set(id, {
        id,
        taskId: TASK,
        owner: OWNER,
        sandboxId: SANDBOX,
        trigger: 'manual',
        state: 'pending',
        createdAt: new Date().toISOString(),
        files: 0,
        bytes: 0,
        uploadedBytes: 0,
        durationMs: 0,
        claudeSessionId: null,
      });
    },
    async get(id) {
      return records.get(id) ?? null;
    },
    async addUploaded(id, bytes) {
      const r = records.get(id);
      if (r) r.uploadedBytes += bytes;
    },
    async complete(id, totals) {
      const r = records.get(id);
      if (r?.state !== 'pending') return null;
      Object.assign(r, totals, { state: 'complete' });
      return r;
    },
  };
}

/** Writes the workspace; returns its regular files' count and bytes (what a checkpoint must hold). */
function generateTree(root, { files, mb }) {
  const bigFiles = Math.max(1, Math.round(mb / 2));
  const smallBytes = Math.max(1, Math.floor(((mb - bigFiles) * 1e6) / Math.max(1, files - bigFiles)));
  let count = 0;
  let bytes = 0;
  const write = (rel, size) => {
    const abs = path.join(root, rel);
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, randomBytes(size));
    count++;
    bytes += size;
  };
  for (let i = 0; i < bigFiles; i++) write(`assets/big-${i}.bin`, 1_000_000);
  const perDir = 100;
  for (let i = 0; count < files; i++) {
    const dir = i < 20 ? `.git/objects/${String(i).padStart(2, '0')}` : `src/m${Math.floor(i / perDir)}/d${i}`;
    // Sizes vary around the mean (half to one and a half of it).
    write(`${dir}/f${i}.dat`, Math.max(1, Math.floor(smallBytes * (0.5 + (i % 11) / 10))));
  }
  fs.mkdirSync(path.join(root, 'node_modules/dep'), { recursive: true });
  for (let i = 0; i < 500; i++) fs.writeFileSync(path.join(root, `node_modules/dep/${i}.js`), randomBytes(2000));
  fs.writeFileSync(path.join(root, 'package-lock.json'), '{}');
  count++;
  bytes += 2;
  return { count, bytes };
}

function hashTree(root) {
  const out = new Map();
  const walk = (dir, rel) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      const abs = path.join(dir, d.name);
      if (d.isDirectory()) {
        if (d.name !== 'node_modules') walk(abs, r);
      } else if (d.isFile()) out.set(r, createHash('sha256').update(fs.readFileSync(abs)).digest('hex'));
    }
  };
  walk(root, '');
  return out;
}

export async function checkpoint(ctx) {
  const { opts, log } = ctx;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-bench-cp-'));
  ctx.onCleanup(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const secret = randomBytes(32);
  const records = memoryRecords();
  const routes = createAgentCheckpointRoutes({
    secret,
    sandboxes: { get: async (id) => (id === SANDBOX ? { id, taskId: TASK, state: 'running' } : null) },
    records,
    blobs: new LocalBlobStore({ root: path.join(tmp, 'store') }),
    log: pino({ level: 'warn' }),
  });
  const server = http.createServer((req, res) => {
    if (routes.handles(req)) routes.handle(req, res);
    else res.writeHead(404).end();
  });
  const socketPath = path.join(tmp, 'agent.sock');
  await new Promise((resolve) => server.listen(socketPath, resolve));
  try {
    const client = new CheckpointClient({
      proxyUrl: 'http://localhost',
      socketPath,
      sandboxId: SANDBOX,
      key: () => egressKeyFor(secret, SANDBOX),
    });
    const agentLog = pino({ level: 'warn' });
    const workspace = path.join(tmp, 'workspace');
    const claudeDir = path.join(tmp, 'home/.claude/projects/-workspace');
    fs.mkdirSync(claudeDir, { recursive: true });
    fs.writeFileSync(path.join(claudeDir, 'b3a1c0de-0000-4000-8000-000000000001.jsonl'), '{"type":"user"}\n');
    let t = performance.now();
    const tree = generateTree(workspace, { files: opts.checkpointFiles, mb: opts.checkpointMB });
    log(
      `  generated ${tree.count} files, ${(tree.bytes / 1e6).toFixed(0)} MB in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    // Files written in the last two seconds are hashed but not cached (a same-tick write could go unseen): let
    // the tree age as a real workspace has between checkpoints.
    await new Promise((resolve) => setTimeout(resolve, 2100));

    const cache = new HashCache();
    const pack = async (id) => {
      records.begin(id);
      const started = performance.now();
      const result = await packCheckpoint({ checkpointId: id, workspace, claudeDir, client, cache, log: agentLog });
      return { ms: performance.now() - started, result };
    };
    const first = await pack('cp_benchfirst0');
    log(
      `  first checkpoint: ${first.ms.toFixed(0)} ms (${first.result.files} files, ${(first.result.uploadedBytes / 1e6).toFixed(0)} MB uploaded)`,
    );
    if (first.result.files !== tree.count + 1) {
      throw new Error(`the checkpoint holds ${first.result.files} files, expected ${tree.count + 1}`);
    }
    fs.appendFileSync(path.join(workspace, 'src/m0/d20/f20.dat'), 'changed');
    const incremental = await pack('cp_benchincr00');
    log(
      `  incremental checkpoint: ${incremental.ms.toFixed(0)} ms (${incremental.result.uploadedBlobs} blob(s), ${incremental.result.uploadedBytes} bytes uploaded)`,
    );
    if (incremental.result.uploadedBlobs !== 1) {
      throw new Error(`the incremental checkpoint uploaded ${incremental.result.uploadedBlobs} blobs, expected 1`);
    }

    const target = path.join(tmp, 'restored');
    t = performance.now();
    const restored = await restoreCheckpoint({
      checkpointId: 'cp_benchincr00',
      workspace: target,
      claudeDir: path.join(tmp, 'home2/.claude/projects/-restored'),
      client,
      log: agentLog,
    });
    const restoreMs = performance.now() - t;
    log(`  restore: ${restoreMs.toFixed(0)} ms (${restored.files} files, ${restored.mismatches.length} mismatches)`);
    const want = hashTree(workspace);
    const got = hashTree(target);
    if (got.size !== want.size || [...want].some(([k, v]) => got.get(k) !== v) || restored.mismatches.length) {
      throw new Error(`the restored workspace differs (${got.size} files, expected ${want.size})`);
    }
    return {
      checkpoint_files: first.result.files,
      checkpoint_mb: first.result.bytes / 1e6,
      checkpoint_first_ms: first.ms,
      checkpoint_first_mb_s: first.result.bytes / 1e6 / (first.ms / 1000),
      checkpoint_incremental_ms: incremental.ms,
      restore_ms: restoreMs,
    };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}
