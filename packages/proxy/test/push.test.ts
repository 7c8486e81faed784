/**
 * Web Push end to end on loopback: a user subscribes through the API with a browser's keys; the real notifier
 * sends through `web-push`'s encryption and VAPID signing to a push service this test runs; the test decrypts
 * what arrives as the browser would. Also: kinds, ownership, gone subscriptions, and once-per-event with two
 * proxies on one Postgres and Redis.
 */
import { ApiClient } from '@rclaude/client';
import { type PushKind, pushKinds, type Task, type TaskEvent } from '@rclaude/protocol';
import { until } from '@rclaude/testkit';
import { io as connectIo } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decryptPush,
  type FakeBrowserSubscription,
  type FakePushService,
  fakeBrowserSubscription,
  startFakePushService,
  verifyVapid,
} from './push-service.js';
import { startTestServer, type TestServer } from './test-server.js';
import { startTestStack, type TestStack, type TestUser } from './test-stack.js';

const LOOPBACK = { RCLAUDE_PUSH_ALLOW_LOOPBACK: '1' };

describe('Web Push through a push service on loopback', () => {
  let stack: TestStack;
  let pushService: FakePushService;
  let alice: TestUser;
  let bob: TestUser;
  let aliceApi: ApiClient;
  let bobApi: ApiClient;

  beforeAll(async () => {
    pushService = await startFakePushService();
    stack = await startTestStack('embedded', { env: LOOPBACK });
    alice = await stack.createUser('alice');
    bob = await stack.createUser('bob');
    aliceApi = new ApiClient({ baseUrl: stack.url, token: alice.token });
    bobApi = new ApiClient({ baseUrl: stack.url, token: bob.token });
  }, 60_000);

  afterAll(async () => {
    await stack?.close();
    await pushService?.close();
  });

  const received = (path: string) => pushService.received.filter((p) => p.path === path);

  async function subscribe(api: ApiClient, path: string, kinds?: PushKind[]) {
    const browser = fakeBrowserSubscription(`${pushService.url}${path}`);
    const sub = await api.call('createPushSubscription', {
      body: {
        endpoint: browser.endpoint,
        keys: browser.keys,
        label: 'test browser',
        ...(kinds ? { kinds } : {}),
      },
    });
    return { browser, sub };
  }

  /**
   * Has the agent report Claude waiting with `message`, then waits until the notifier has handled it: a client
   * watching the task receives the event from the same publisher call that hands it to the notifier.
   */
  async function waitingEvent(task: Task, agent: { emitRaw(e: string, ...a: unknown[]): void }, message: string) {
    const watcher = await stack.client(alice.token);
    try {
      await watcher.timeout(10_000).emitWithAck('task:subscribe', { taskId: task.id });
      const seen = new Promise<void>((resolve) => {
        watcher.on('task:event', (event: TaskEvent) => {
          if (event.type === 'activity' && event.data.message === message) resolve();
        });
      });
      agent.emitRaw('agent:event', {
        sessionId: null,
        type: 'activity',
        data: { activity: 'waiting', message, hook: 'Notification' },
      });
      await seen;
      await stack.server.notifier.idle();
    } finally {
      watcher.disconnect();
    }
  }

  it("sends a waiting task's message, encrypted for the browser and signed with the server's VAPID key", async () => {
    const { publicKey } = await aliceApi.call('getPushConfig', {});
    const { browser } = await subscribe(aliceApi, '/push/alice-1');
    const { task, agent } = await stack.startTask(alice.token, { command: ['sh'], name: 'fix-the-bug' });

    await waitingEvent(task, agent, 'Claude needs your permission to use Bash');
    const pushes = received('/push/alice-1');
    expect(pushes).toHaveLength(1);
    const push = pushes[0];
    if (!push) throw new Error('no push');
    expect(push.headers['content-encoding']).toBe('aes128gcm');
    expect(push.headers.urgency).toBe('high');
    expect(Number(push.headers.ttl)).toBeGreaterThan(0);
    const claims = verifyVapid(push, publicKey, pushService.url);
    expect(claims.sub).toMatch(/^mailto:|^https:/);
    // Nothing readable on the wire: the plain text is not in the body.
    expect(push.body.includes(Buffer.from('Bash'))).toBe(false);

    const notification = decryptPush(browser, push);
    expect(notification).toMatchObject({
      kind: 'waiting',
      title: 'fix-the-bug is waiting for you',
      body: 'Claude needs your permission to use Bash',
      taskId: task.id,
      url: `/tasks/${task.id}`,
    });
  }, 60_000);

  it('sends only the kinds a subscription chose, to its owner only', async () => {
    const { browser, sub } = await subscribe(aliceApi, '/push/alice-2', ['finished']);
    await subscribe(bobApi, '/push/bob-1');
    const { task, agent } = await stack.startTask(alice.token, { command: ['sh'], name: 'quiet' });

    await waitingEvent(task, agent, 'first question');
    expect(received('/push/alice-2')).toHaveLength(0);
    expect(received('/push/bob-1')).toHaveLength(0);

    await aliceApi.call('updatePushSubscription', { params: { id: sub.id }, body: { kinds: ['waiting'] } });
    await waitingEvent(task, agent, 'second question');
    const pushes = received('/push/alice-2');
    expect(pushes).toHaveLength(1);
    const second = pushes[0];
    if (!second) throw new Error('no push');
    expect(decryptPush(browser, second).body).toBe('second question');
    expect(received('/push/bob-1')).toHaveLength(0);
  }, 60_000);

  it("keeps each user's subscriptions their own", async () => {
    const { sub } = await subscribe(aliceApi, '/push/alice-3');
    const mine = await bobApi.call('listPushSubscriptions', {});
    expect(mine.subscriptions.map((s) => s.id)).not.toContain(sub.id);
    for (const attempt of [
      () => bobApi.call('updatePushSubscription', { params: { id: sub.id }, body: { kinds: [] } }),
      () => bobApi.call('deletePushSubscription', { params: { id: sub.id } }),
      () => bobApi.call('testPush', { params: { id: sub.id } }),
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    const still = await aliceApi.call('listPushSubscriptions', {});
    // Untouched by Bob's attempts: still every kind, as subscribed.
    expect(still.subscriptions.find((s) => s.id === sub.id)?.kinds).toEqual([...pushKinds]);
  });

  it('refuses endpoints that would make the server call into its network', async () => {
    const keys = fakeBrowserSubscription('x').keys;
    for (const endpoint of ['http://10.0.0.1/push', 'https://169.254.169.254/latest', 'https://192.168.0.10/p']) {
      await expect(aliceApi.call('createPushSubscription', { body: { endpoint, keys } })).rejects.toMatchObject({
        code: 'BAD_REQUEST',
      });
    }
  });

  it('sends a test notification, and drops a subscription the push service says is gone', async () => {
    const { browser, sub } = await subscribe(aliceApi, '/push/alice-4');
    const ok = await aliceApi.call('testPush', { params: { id: sub.id } });
    expect(ok).toEqual({ delivered: true, status: 201, removed: false });
    const test = received('/push/alice-4')[0];
    if (!test) throw new Error('no test push');
    expect(decryptPush(browser, test)).toMatchObject({ kind: 'test', url: '/settings', taskId: null });

    // Tests are throttled per device: they make the server POST on demand.
    await expect(aliceApi.call('testPush', { params: { id: sub.id } })).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(received('/push/alice-4')).toHaveLength(1);
    const since = Date.now();
    await until('the test throttle to pass (3 s)', () => Date.now() - since > 3100, 10_000);

    pushService.answer('/push/alice-4', 410);
    const gone = await aliceApi.call('testPush', { params: { id: sub.id } });
    expect(gone).toEqual({ delivered: false, status: 410, removed: true });
    const after = await aliceApi.call('listPushSubscriptions', {});
    expect(after.subscriptions.map((s) => s.id)).not.toContain(sub.id);
  });

  it('resolves a named endpoint itself and sends to the address it checked', async () => {
    const port = new URL(pushService.url).port;
    const browser = fakeBrowserSubscription(`http://localhost:${port}/push/named`);
    const sub = await aliceApi.call('createPushSubscription', {
      body: { endpoint: browser.endpoint, keys: browser.keys },
    });
    expect(await aliceApi.call('testPush', { params: { id: sub.id } })).toMatchObject({ delivered: true });
    const push = received('/push/named')[0];
    if (!push) throw new Error('no push');
    expect(decryptPush(browser, push).kind).toBe('test');
  });

  it('updates the subscription of an endpoint subscribed again instead of adding one', async () => {
    const first = await subscribe(aliceApi, '/push/alice-5');
    const again = await aliceApi.call('createPushSubscription', {
      body: { endpoint: first.browser.endpoint, keys: first.browser.keys, kinds: ['failed'] },
    });
    expect(again.id).toBe(first.sub.id);
    expect(again.kinds).toEqual(['failed']);
    const list = await aliceApi.call('listPushSubscriptions', {});
    expect(list.subscriptions.filter((s) => s.endpoint === first.browser.endpoint)).toHaveLength(1);
  });
});

describe('Web Push with two proxies on one Postgres and Redis', () => {
  let a: TestServer;
  let b: TestServer;
  let pushService: FakePushService;
  let browser: FakeBrowserSubscription;
  let task: Task;

  beforeAll(async () => {
    pushService = await startFakePushService();
    // Each proxy's lifecycle sweeps every second and warns about an idle task once it has been idle for 2 s
    // (the warning is at most half the idle timeout).
    const env = { ...LOOPBACK, IDLE_TIMEOUT_MS: '4000', RCLAUDE_HIBERNATE_WARNING_MS: '2000' };
    a = await startTestServer('postgres+redis', { env });
    b = await startTestServer('postgres+redis', { env, shareStateWith: a });
    browser = fakeBrowserSubscription(`${pushService.url}/push/admin`);
    await new ApiClient({ baseUrl: a.url, token: a.token }).call('createPushSubscription', {
      body: { endpoint: browser.endpoint, keys: browser.keys },
    });
    const admin = await a.auth.ensureAdmin();
    await a.stores.tasks.create({
      id: 'pushtwoproxies',
      name: 'shared-task',
      owner: admin.id,
      provider: 'local',
      command: ['sh'],
      prompt: null,
      repo: null,
      branch: null,
      pushBranch: null,
      mainSessionId: 'pushtwoproxiesmain',
    });
    await a.stores.tasks.transition('pushtwoproxies', 'starting');
    const running = await a.stores.tasks.transition('pushtwoproxies', 'running');
    if (!running) throw new Error('the task did not start');
    task = running;
  }, 60_000);

  afterAll(async () => {
    await b?.close();
    await a?.close();
    await pushService?.close();
  });

  it('both proxies use the one VAPID key pair', async () => {
    const fromA = await new ApiClient({ baseUrl: a.url, token: a.token }).call('getPushConfig', {});
    const fromB = await new ApiClient({ baseUrl: b.url, token: a.token }).call('getPushConfig', {});
    expect(fromB.publicKey).toBe(fromA.publicKey);
  });

  it('sends one notification when both proxies handle the same event', async () => {
    const event: TaskEvent = await a.stores.tasks.appendEvent(task.id, 'status', {
      status: 'failed',
      reason: 'sandbox gone',
    });
    const sent = await Promise.all([a.notifier.notify(task, event), b.notifier.notify(task, event)]);
    expect(sent.reduce((x, y) => x + y, 0)).toBe(1);
    const pushes = pushService.received.filter((p) => decryptPush(browser, p).kind === 'failed');
    expect(pushes).toHaveLength(1);
  });

  it("sends one hibernation warning when both proxies' lifecycles warn about the same idle task", async () => {
    // Both proxies see the task idle from their first sweep and each puts its own warning on the timeline. A
    // client of proxy A gets both (B's through Redis), each from the publisher call that hands it to its notifier.
    const watcher = connectIo(`${a.url}/client`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { token: a.token },
    });
    let warnings = 0;
    watcher.on('task:event', (event: TaskEvent) => {
      if (event.type === 'info' && typeof event.data.hibernateAt === 'string') warnings++;
    });
    try {
      await watcher.timeout(10_000).emitWithAck('task:subscribe', { taskId: task.id });
      await until('a warning from each proxy', () => warnings >= 2, 30_000);
    } finally {
      watcher.disconnect();
    }
    await Promise.all([a.notifier.idle(), b.notifier.idle()]);
    const pushes = pushService.received.map((p) => decryptPush(browser, p)).filter((n) => n.kind === 'stopping');
    expect(pushes).toHaveLength(1);
    expect(pushes[0]).toMatchObject({ title: 'shared-task will hibernate soon', url: `/tasks/${task.id}` });
  });
});
