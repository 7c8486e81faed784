/**
 * The task, session and file routes under attack: no token, a wrong or revoked token, another user's task on
 * every route (the same 404 as a missing one, and nothing reaches their sandbox), malformed JSON and wrong
 * types on every body, bad queries and path parameters, and a stored secret's reach. The real app and
 * services on PGlite or Postgres+Redis; fake agents stand in for the sandboxes.
 */
import { errorBodySchema, type RouteName, routeNames, routes, type Task } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ApiResponse,
  type FakeAgent,
  startTestStack,
  type TestStack,
  type TestUser,
} from '../../test/test-stack.js';

const MISSING_TASK = 'zzzzzzzzzzzz';
const MISSING_SESSION = `${MISSING_TASK}_main`;

interface RouteCase {
  /** The route of the protocol's table, to check every route that names a task or session has a case. */
  route: RouteName;
  method: string;
  path: (taskId: string, sessionId: string) => string;
  body?: unknown;
  raw?: () => string | FormData;
  contentType?: string | null;
}

/** A checkpoint of the task under test, for the routes that name one (the admin case takes a real one). */
let checkpointId = 'cp_notacheckpoint';
const SOME_HASH = 'ab'.repeat(32);

/**
 * Every route that names one task or session. `stopTask` and `deleteTask` come last: an admin running the
 * table ends the task.
 */
const ROUTES: RouteCase[] = [
  { route: 'getTask', method: 'GET', path: (t) => `/api/tasks/${t}` },
  { route: 'listTaskEvents', method: 'GET', path: (t) => `/api/tasks/${t}/events` },
  { route: 'listTaskSessions', method: 'GET', path: (t) => `/api/tasks/${t}/sessions` },
  { route: 'continueTask', method: 'POST', path: (t) => `/api/tasks/${t}/continue`, body: {} },
  { route: 'listFiles', method: 'GET', path: (t) => `/api/tasks/${t}/files?path=` },
  { route: 'readFile', method: 'GET', path: (t) => `/api/tasks/${t}/files/content?path=notes.txt` },
  { route: 'readFile', method: 'HEAD', path: (t) => `/api/tasks/${t}/files/content?path=notes.txt` },
  {
    route: 'writeFile',
    method: 'PUT',
    path: (t) => `/api/tasks/${t}/files/content?path=notes.txt`,
    raw: () => 'overwritten by someone else',
    contentType: 'application/octet-stream',
  },
  {
    route: 'uploadFiles',
    method: 'POST',
    path: (t) => `/api/tasks/${t}/files/upload?dir=`,
    raw: () => {
      const form = new FormData();
      form.append('file', new Blob(['planted']), 'planted.txt');
      return form;
    },
    contentType: null,
  },
  { route: 'downloadFile', method: 'GET', path: (t) => `/api/tasks/${t}/files/download?path=notes.txt` },
  { route: 'syncManifest', method: 'GET', path: (t) => `/api/tasks/${t}/files/manifest` },
  { route: 'syncChanges', method: 'GET', path: (t) => `/api/tasks/${t}/files/changes?waitMs=0` },
  {
    route: 'renameFile',
    method: 'POST',
    path: (t) => `/api/tasks/${t}/files/rename`,
    body: { from: 'notes.txt', to: 'notes.txt' },
  },
  {
    route: 'syncApply',
    method: 'POST',
    path: (t) => `/api/tasks/${t}/files/sync-apply`,
    body: { op: 'chmod', path: 'notes.txt', exec: false, expect: null },
  },
  { route: 'deleteFile', method: 'DELETE', path: (t) => `/api/tasks/${t}/files?path=notes.txt` },
  { route: 'createSession', method: 'POST', path: () => '/api/sessions', body: 'taskId' },
  { route: 'getSession', method: 'GET', path: (_t, s) => `/api/sessions/${s}` },
  { route: 'getSessionRecording', method: 'GET', path: (_t, s) => `/api/sessions/${s}/recording` },
  {
    route: 'execute',
    method: 'POST',
    path: (_t, s) => `/api/sessions/${s}/execute`,
    body: { command: 'id' },
  },
  { route: 'createCheckpoint', method: 'POST', path: (t) => `/api/tasks/${t}/checkpoints`, body: {} },
  { route: 'pushTask', method: 'POST', path: (t) => `/api/tasks/${t}/push`, body: {} },
  {
    route: 'createPullRequest',
    method: 'POST',
    path: (t) => `/api/tasks/${t}/pull-request`,
    body: { githubRepo: 'o/r' },
  },
  { route: 'listCheckpoints', method: 'GET', path: (t) => `/api/tasks/${t}/checkpoints` },
  { route: 'keepTask', method: 'POST', path: (t) => `/api/tasks/${t}/keep` },
  { route: 'listApprovals', method: 'GET', path: (t) => `/api/tasks/${t}/approvals` },
  { route: 'forkTask', method: 'POST', path: (t) => `/api/tasks/${t}/fork`, body: {} },
  {
    route: 'getCheckpointManifest',
    method: 'GET',
    path: (t) => `/api/tasks/${t}/checkpoints/${checkpointId}/manifest`,
  },
  {
    route: 'getCheckpointBlob',
    method: 'GET',
    path: (t) => `/api/tasks/${t}/checkpoints/${checkpointId}/blobs/${SOME_HASH}`,
  },
  { route: 'resumeTask', method: 'POST', path: (t) => `/api/tasks/${t}/resume`, body: {} },
  { route: 'stopTask', method: 'POST', path: (t) => `/api/tasks/${t}/stop` },
  { route: 'createPortPreview', method: 'POST', path: (t) => `/api/tasks/${t}/ports/3000/preview` },
  { route: 'deleteTask', method: 'DELETE', path: (t) => `/api/tasks/${t}` },
];

/** A body with ids replaced, so answers about different ids can be compared. */
function normalise(res: ApiResponse, ...ids: string[]): unknown {
  let text = res.text;
  for (const id of ids) text = text.replaceAll(id, 'ID');
  return { status: res.status, text };
}

describe.each(['embedded', 'postgres+redis'] as const)('task, session and file routes security (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startTestStack(kind);
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
  });
  afterAll(async () => {
    await stack?.close();
  });

  function call(
    token: string | null,
    c: RouteCase,
    taskId: string,
    sessionId: string,
    headers?: Record<string, string>,
  ) {
    const body = c.body === 'taskId' ? { taskId } : c.body;
    return stack.api(token, c.method, c.path(taskId, sessionId), {
      ...(body === undefined ? {} : { body }),
      ...(c.raw ? { raw: c.raw() } : {}),
      ...(c.contentType === undefined ? {} : { contentType: c.contentType }),
      ...(headers ? { headers } : {}),
    });
  }

  /** What alice's sandbox was asked to do, apart from opening its sessions and pacing viewers. */
  function sandboxRequests(agent: FakeAgent): string[] {
    return agent.received
      .map((r) => r.event)
      .filter(
        (e) =>
          e.startsWith('exec:') ||
          e.startsWith('files:') ||
          e.startsWith('checkpoint:') ||
          e.startsWith('repo:') ||
          e === 'session:open',
      );
  }

  it('has a case, with its method, for every route of the table that names a task or a session', () => {
    // answerApproval names an approval too: another user's answer (404, nothing changes) is in
    // services/approvals.test.ts and the end-to-end cli/test/approvals.test.ts, with a real pending approval.
    const declared = routeNames.filter(
      (name) =>
        routes[name].path.includes('/:id') &&
        ['tasks', 'files', 'sessions', 'approvals', 'ports'].includes(routes[name].tag) &&
        name !== 'answerApproval',
    );
    const covered = new Set(ROUTES.map((c) => c.route));
    expect(declared.filter((name) => !covered.has(name))).toEqual([]);
    expect(covered.has('createSession')).toBe(true);
    for (const c of ROUTES) if (c.method !== 'HEAD') expect(c.method, c.route).toBe(routes[c.route].method);
  });

  it("answers another user's task and sessions on every route exactly like missing ones; nothing reaches the sandbox", async () => {
    const { task, agent } = await stack.startTask(alice.token);
    const put = await stack.api(alice.token, 'PUT', `/api/tasks/${task.id}/files/content?path=notes.txt`, {
      raw: 'alice notes',
      contentType: 'application/octet-stream',
    });
    expect(put.status, put.text).toBe(200);
    const shell = await stack.api(alice.token, 'POST', '/api/sessions', { body: { taskId: task.id } });
    expect(shell.status, shell.text).toBe(201);
    const before = sandboxRequests(agent).length;

    const pairs = [
      [task.mainSessionId, MISSING_SESSION],
      [shell.body.id as string, `${MISSING_TASK}_qqqqqq`],
    ] as const;
    for (const [sessionId, missingSession] of pairs) {
      for (const c of ROUTES) {
        const foreign = await call(bob.token, c, task.id, sessionId);
        const missing = await call(bob.token, c, MISSING_TASK, missingSession);
        expect(foreign.status, `${c.route}: ${foreign.text}`).toBe(404);
        if (c.method !== 'HEAD') expect(errorBodySchema.parse(foreign.body).error.code).toBe('NOT_FOUND');
        expect(normalise(foreign, sessionId, task.id), c.route).toEqual(
          normalise(missing, missingSession, MISSING_TASK),
        );
      }
    }

    // Alice's task, files and sessions are as she left them, and her sandbox was asked nothing.
    expect(sandboxRequests(agent).slice(before)).toEqual([]);
    expect(Buffer.from(agent.files.get('notes.txt') ?? []).toString()).toBe('alice notes');
    expect([...agent.files.keys()]).toEqual(['notes.txt']);
    const mine = await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`);
    expect((mine.body as Task).status).toBe('running');
    expect((await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/sessions`)).body.sessions).toHaveLength(2);
    expect((await stack.api(bob.token, 'GET', '/api/tasks?all=true')).body.tasks).toEqual([]);
  });

  it('lets an admin reach every route of any user’s task', async () => {
    const { task } = await stack.startTask(alice.token);
    await stack.api(alice.token, 'PUT', `/api/tasks/${task.id}/files/content?path=notes.txt`, {
      raw: 'alice notes',
      contentType: 'application/octet-stream',
    });
    const taken = await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/checkpoints`);
    expect(taken.status, taken.text).toBe(201);
    checkpointId = taken.body.id as string;
    for (const c of ROUTES) {
      const res = await call(stack.admin.token, c, task.id, task.mainSessionId);
      // Never "not found": the route may still refuse for other reasons (e.g. continuing a running task).
      expect(res.status, `${c.route}: ${res.text}`).toBeLessThan(500);
      // The blob case asks for a hash the (empty) checkpoint does not hold: found task and checkpoint, no such file.
      if (c.route === 'getCheckpointBlob') expect(res.text).toMatch(/has no file with hash/);
      else expect(res.body?.error?.code, `${c.route}: ${res.text}`).not.toBe('NOT_FOUND');
      if (c.route === 'deleteFile') {
        // Put it back for the routes after it.
        await stack.api(alice.token, 'PUT', `/api/tasks/${task.id}/files/content?path=notes.txt`, {
          raw: 'again',
          contentType: 'application/octet-stream',
        });
      }
    }
    const all = (await stack.api(stack.admin.token, 'GET', '/api/tasks?all=true')).body.tasks as Task[];
    expect(all.map((t) => t.owner)).toContain(alice.id);
  });

  it('refuses no token, a wrong token and a revoked token on every route with 401, reaching nothing', async () => {
    const { task, agent } = await stack.startTask(alice.token);
    const issued = await stack.api(alice.token, 'POST', '/api/tokens', { body: { name: 'to revoke' } });
    expect(issued.status).toBe(201);
    const revoked = issued.body.token as string;
    expect((await stack.api(revoked, 'GET', '/api/me')).status).toBe(200);
    expect((await stack.api(alice.token, 'DELETE', `/api/tokens/${issued.body.info.id}`)).status).toBe(204);
    const countAll = async () =>
      ((await stack.api(stack.admin.token, 'GET', '/api/tasks?all=true')).body.tasks as Task[]).length;
    const tasksBefore = await countAll();
    const before = sandboxRequests(agent).length;
    const listRoutes: RouteCase[] = [
      { route: 'listTasks', method: 'GET', path: () => '/api/tasks' },
      { route: 'createTask', method: 'POST', path: () => '/api/tasks', body: { command: ['sh'] } },
    ];
    const credentials: [string, string | null, Record<string, string> | undefined][] = [
      ['none', null, undefined],
      ['wrong', 'rct_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', undefined],
      ['revoked', revoked, undefined],
      ['not Bearer', null, { authorization: `Basic ${Buffer.from(`alice:${alice.token}`).toString('base64')}` }],
      ['in the query', null, undefined],
    ];
    for (const [what, token, headers] of credentials) {
      for (const c of [...listRoutes, ...ROUTES]) {
        const withQuery: RouteCase =
          what === 'in the query'
            ? { ...c, path: (t, s) => `${c.path(t, s)}${c.path(t, s).includes('?') ? '&' : '?'}token=${alice.token}` }
            : c;
        const res = await call(token, withQuery, task.id, task.mainSessionId, headers);
        expect(res.status, `${what} ${c.route}: ${res.text}`).toBe(401);
        if (c.method !== 'HEAD') expect(errorBodySchema.parse(res.body).error.code).toBe('UNAUTHENTICATED');
      }
    }
    expect(sandboxRequests(agent).slice(before)).toEqual([]);
    expect(((await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`)).body as Task).status).toBe('running');
    expect(await countAll()).toBe(tasksBefore);
  });

  it('answers malformed JSON and wrong types on every body with 400 BAD_REQUEST, creating and running nothing', async () => {
    const { task, agent } = await stack.startTask(alice.token);
    const tasksBefore = ((await stack.api(alice.token, 'GET', '/api/tasks')).body.tasks as Task[]).length;
    const requestsBefore = sandboxRequests(agent).length;
    const malformed = [
      '{',
      '{"command":',
      '{"command": ["sh"],}',
      "{'command': 1}",
      'null',
      '[]',
      '"text"',
      '42',
      'true',
      '',
      '{"a":1}{"b":2}',
      '\u0000',
    ];
    const bodies: { path: string; wrong: unknown[] }[] = [
      {
        path: '/api/tasks',
        wrong: [
          [],
          { command: 'sh' },
          { command: [] },
          { command: [1] },
          { command: [''] },
          { command: ['sh'], prompt: 'both' },
          { name: 5 },
          { name: '' },
          { name: 'bell\u0007' },
          { prompt: 5 },
          { prompt: '' },
          { cols: 0 },
          { cols: 1.5 },
          { cols: '80' },
          { rows: 1001 },
          { env: { A: 1 } },
          { env: { 'BAD-NAME': 'x' } },
          { env: ['A=1'] },
          { provider: 'nowhere' },
          { repo: 5 },
          { branch: '' },
          { command: ['sh'], owner: bob.id },
          { command: ['sh'], id: 'chosen' },
        ],
      },
      {
        path: '/api/sessions',
        wrong: [
          {},
          { taskId: 5 },
          { taskId: '' },
          { taskId: task.id, command: 'sh' },
          { taskId: task.id, command: [] },
          { taskId: task.id, cols: -1 },
          { taskId: task.id, rows: 'many' },
          { taskId: task.id, kind: 'main' },
          JSON.parse('{"__proto__": {"taskId": "x"}}'),
        ],
      },
      {
        path: `/api/sessions/${task.mainSessionId}/execute`,
        wrong: [
          {},
          { command: 5 },
          { command: '' },
          { command: [] },
          { command: [''] },
          { command: 'id', timeoutMs: 0 },
          { command: 'id', timeoutMs: '10' },
          { command: 'id', timeoutMs: 3_600_001 },
          { command: 'id', cwd: 5 },
          { command: 'id', env: { A: 'b' } },
          JSON.parse('{"__proto__": {"command": "id"}}'),
        ],
      },
    ];
    for (const { path, wrong } of bodies) {
      const cases: { what: string; raw: string; contentType?: string }[] = [
        // An empty JSON body reads as {}, which asks for a default task: not malformed there.
        ...malformed
          .filter((raw) => raw !== '' || path !== '/api/tasks')
          .map((raw) => ({ what: `malformed ${JSON.stringify(raw)}`, raw })),
        ...wrong.map((w) => ({ what: `wrong ${JSON.stringify(w)}`, raw: JSON.stringify(w) })),
        { what: 'text/plain', raw: '{"command":["sh"],"taskId":"x"}', contentType: 'text/plain' },
        { what: 'form', raw: 'command=sh', contentType: 'application/x-www-form-urlencoded' },
      ];
      for (const { what, raw, contentType } of cases) {
        const res = await stack.api(alice.token, 'POST', path, { raw, ...(contentType ? { contentType } : {}) });
        expect(res.status, `${path} ${what}: ${res.text}`).toBe(400);
        expect(errorBodySchema.parse(res.body).error.code).toBe('BAD_REQUEST');
      }
      const huge = await stack.api(alice.token, 'POST', path, {
        raw: JSON.stringify({ command: ['x'.repeat(1_100_000)] }),
      });
      expect(huge.status, `${path} oversized`).toBe(413);
      expect(errorBodySchema.parse(huge.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    }
    expect(((await stack.api(alice.token, 'GET', '/api/tasks')).body.tasks as Task[]).length).toBe(tasksBefore);
    expect(sandboxRequests(agent).slice(requestsBefore)).toEqual([]);
    expect(stack.logs()).not.toMatch(/"level":50/);
  });

  it('answers bad queries and path parameters with 400, and unknown ones with 404, never 500', async () => {
    const { task } = await stack.startTask(alice.token);
    for (const query of [
      'limit=abc',
      'limit=0',
      'limit=501',
      'limit=1.5',
      'all=maybe',
      'status=nope',
      'unknown=1',
      'limit=1&limit=2',
      `q=${'x'.repeat(101)}`,
    ]) {
      const res = await stack.api(alice.token, 'GET', `/api/tasks?${query}`);
      expect(res.status, query).toBe(400);
      expect(errorBodySchema.parse(res.body).error.code).toBe('BAD_REQUEST');
    }
    for (const query of ['after=-1', 'after=x', 'after=1&after=2', 'extra=1']) {
      const res = await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/events?${query}`);
      expect(res.status, query).toBe(400);
    }
    for (const path of [
      '/api/tasks/UPPER',
      '/api/tasks/a',
      `/api/tasks/${'a'.repeat(33)}`,
      '/api/tasks/..%2F..%2Fetc',
      '/api/tasks/%00',
      '/api/sessions/A_main',
      '/api/tasks/UPPER/files?path=',
      '/api/tasks/..%2F/files/content?path=a',
      '/api/sessions/..%2Fsecret',
      `/api/sessions/${'a'.repeat(65)}`,
    ]) {
      const res = await stack.api(alice.token, 'GET', path);
      expect(res.status, path).toBe(400);
      expect(errorBodySchema.parse(res.body).error.code).toBe('BAD_REQUEST');
    }
    for (const path of ['/api/tasks/abcd1234/files/nothing', '/api/nothing-here']) {
      const res = await stack.api(alice.token, 'GET', path);
      expect(res.status, path).toBe(404);
      expect(errorBodySchema.parse(res.body).error.code).toBe('NOT_FOUND');
    }
  });

  it("puts a stored secret in the owner's sandboxes only, and in no answer, event or log line", async () => {
    const secret = `npm_secret-${Math.random().toString(36).slice(2)}-never-shown`;
    const stored = await stack.api(alice.token, 'PUT', '/api/secrets/NPM_TOKEN', { body: { value: secret } });
    expect(stored.status).toBe(200);
    // A git token is the proxy's to clone and push with (adr/0024): it never enters a sandbox either.
    const gitToken = `ghp_secret-${Math.random().toString(36).slice(2)}-proxy-only`;
    const storedGit = await stack.api(alice.token, 'PUT', '/api/secrets/GITHUB_TOKEN', { body: { value: gitToken } });
    expect(storedGit.status).toBe(200);
    // A model credential is a secret too, but it never enters a sandbox: the egress gateway adds it upstream.
    const modelKey = `sk-ant-secret-${Math.random().toString(36).slice(2)}-gateway-only`;
    const storedKey = await stack.api(alice.token, 'PUT', '/api/secrets/ANTHROPIC_API_KEY', {
      body: { value: modelKey },
    });
    expect(storedKey.status).toBe(200);
    const { task, agent } = await stack.startTask(alice.token);
    const bobs = await stack.startTask(bob.token);

    // The sandbox gets it in the environment of every process it starts for Alice, never Bob's.
    const open = agent.received.find((r) => r.event === 'session:open')?.payload as { env: Record<string, string> };
    expect(open.env.NPM_TOKEN).toBe(secret);
    expect(JSON.stringify(open)).not.toContain(modelKey);
    expect(JSON.stringify(open)).not.toContain(gitToken);
    const bobOpen = bobs.agent.received.find((r) => r.event === 'session:open')?.payload as {
      env: Record<string, string>;
    };
    expect(bobOpen.env.NPM_TOKEN).toBeUndefined();
    const exec = await stack.api(alice.token, 'POST', `/api/sessions/${task.mainSessionId}/execute`, {
      body: { command: 'printenv' },
    });
    expect(JSON.parse(exec.body.stdout as string).NPM_TOKEN).toBe(secret);
    expect(exec.text).not.toContain(modelKey);
    expect(exec.text).not.toContain(gitToken);

    const answers = [
      stored,
      await stack.api(alice.token, 'GET', '/api/secrets'),
      await stack.api(alice.token, 'GET', `/api/tasks/${task.id}`),
      await stack.api(alice.token, 'GET', '/api/tasks'),
      await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/events`),
      await stack.api(alice.token, 'GET', `/api/tasks/${task.id}/sessions`),
      await stack.api(alice.token, 'GET', `/api/sessions/${task.mainSessionId}`),
      await stack.api(alice.token, 'GET', '/api/me'),
      await stack.api(stack.admin.token, 'GET', '/api/tasks?all=true'),
      await stack.api(stack.admin.token, 'GET', '/api/users'),
      await stack.api(alice.token, 'POST', `/api/tasks/${task.id}/stop`),
    ];
    for (const a of [...answers, storedKey, storedGit]) {
      for (const kept of [secret, modelKey, gitToken]) expect(a.text).not.toContain(kept);
    }
    const events = JSON.stringify(await stack.stores.tasks.listEvents(task.id));
    for (const kept of [secret, modelKey, gitToken]) {
      expect(events).not.toContain(kept);
      expect(stack.logs()).not.toContain(kept);
    }
  });
});
