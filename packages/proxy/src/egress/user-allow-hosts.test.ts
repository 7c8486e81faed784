/**
 * Each user's egress allow-list additions through the real app (`/api/allow-hosts`) on PGlite and on
 * Postgres+Redis: only names and *.patterns get in (the parser `rclaude run --allow-host` uses), every caller
 * sees and changes only their own list (admins included), and what the egress gateway reads for a user is
 * that user's list alone.
 */
import { MAX_USER_ALLOW_HOSTS } from '@rclaude/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../../test/test-stack.js';

describe.each(['embedded', 'postgres+redis'] as const)('per-user egress allow-list (%s)', (kind) => {
  let stack: TestStack;
  let alice: TestUser;
  let bob: TestUser;

  beforeAll(async () => {
    stack = await startTestStack(kind);
    alice = await stack.createUser(`alice${Math.random().toString(36).slice(2, 8)}`);
    bob = await stack.createUser(`bob${Math.random().toString(36).slice(2, 8)}`);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
  });

  const hostsOf = async (user: TestUser) => {
    const res = await stack.api(user.token, 'GET', '/api/allow-hosts');
    expect(res.status).toBe(200);
    return (res.body.hosts as { host: string }[]).map((h) => h.host);
  };

  it('stores names and patterns in lower case, once, and lists them to their owner only', async () => {
    const added = await stack.api(alice.token, 'POST', '/api/allow-hosts', {
      body: { host: ' Registry.Example.COM ' },
    });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ host: 'registry.example.com' });
    expect(Date.parse(added.body.addedAt)).not.toBeNaN();
    const again = await stack.api(alice.token, 'POST', '/api/allow-hosts', { body: { host: 'registry.example.com' } });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(added.body);
    const pattern = await stack.api(alice.token, 'POST', '/api/allow-hosts', { body: { host: '*.corp.example:8443' } });
    expect(pattern.status).toBe(201);

    expect(await hostsOf(alice)).toEqual(['*.corp.example:8443', 'registry.example.com']);
    expect(await hostsOf(bob)).toEqual([]);
    expect(await hostsOf(stack.admin)).toEqual([]);
    // What the egress gateway reads when it accepts a tunnel of each user's task.
    expect(await stack.auth.allowHosts.forUser(alice.id)).toEqual(
      expect.arrayContaining(['registry.example.com', '*.corp.example:8443']),
    );
    expect(await stack.auth.allowHosts.forUser(bob.id)).toEqual([]);
  });

  it("lets no other user, admin included, remove or change someone's entries", async () => {
    await stack.api(alice.token, 'POST', '/api/allow-hosts', { body: { host: 'mine.example.com' } });
    for (const user of [bob, stack.admin]) {
      const removed = await stack.api(user.token, 'DELETE', '/api/allow-hosts/mine.example.com');
      expect(removed.status).toBe(404);
      expect(removed.body.error.code).toBe('NOT_FOUND');
    }
    expect(await hostsOf(alice)).toContain('mine.example.com');
    // Bob adding the same host adds it to his list, not to hers; his removal leaves hers.
    expect(
      (await stack.api(bob.token, 'POST', '/api/allow-hosts', { body: { host: 'mine.example.com' } })).status,
    ).toBe(201);
    expect((await stack.api(bob.token, 'DELETE', '/api/allow-hosts/mine.example.com')).status).toBe(204);
    expect(await hostsOf(alice)).toContain('mine.example.com');
    expect(await hostsOf(bob)).toEqual([]);
    // Her own removal works, by the stored name or as typed.
    expect((await stack.api(alice.token, 'DELETE', '/api/allow-hosts/MINE.example.com')).status).toBe(204);
    expect(await hostsOf(alice)).not.toContain('mine.example.com');
  });

  it('answers nobody without a valid token', async () => {
    for (const token of [null, 'rclaude_notatoken']) {
      expect((await stack.api(token, 'GET', '/api/allow-hosts')).status).toBe(401);
      expect((await stack.api(token, 'POST', '/api/allow-hosts', { body: { host: 'x.example.com' } })).status).toBe(
        401,
      );
      expect((await stack.api(token, 'DELETE', '/api/allow-hosts/registry.example.com')).status).toBe(401);
    }
    expect(await hostsOf(alice)).toContain('registry.example.com');
  });

  it('refuses addresses, ranges, any-host and bad names, saying why, and stores none of them', async () => {
    const refused: [string, RegExp][] = [
      ['10.0.0.1', /opens an address/],
      ['127.0.0.1:5432', /opens an address/],
      ['169.254.169.254', /opens an address/],
      ['[::1]:22', /opens an address/],
      ['10.0.0.0/8', /opens an address/],
      ['*', /opens every host/],
      ['*:22', /opens every host/],
      ['bad_host!', /not a valid host name/],
      ['*.', /not a valid host pattern/],
      ['example.com:99999', /invalid port/],
      ['example.com:0', /invalid port/],
      [`${'a'.repeat(64)}.example.com`, /not a valid host name/],
    ];
    for (const [host, why] of refused) {
      const res = await stack.api(bob.token, 'POST', '/api/allow-hosts', { body: { host } });
      expect(res.status, host).toBe(400);
      expect(res.body.error.code).toBe('BAD_REQUEST');
      expect(res.body.error.message, host).toMatch(why);
    }
    for (const body of [
      {},
      { host: '' },
      { host: '   ' },
      { host: 'a.example.com', extra: 1 },
      { host: 'x'.repeat(300) },
    ]) {
      expect((await stack.api(bob.token, 'POST', '/api/allow-hosts', { body })).status).toBe(400);
    }
    expect(await hostsOf(bob)).toEqual([]);
  });

  it(`holds at most ${MAX_USER_ALLOW_HOSTS} entries per user`, async () => {
    const carol = await stack.createUser(`carol${Math.random().toString(36).slice(2, 8)}`);
    for (let i = 0; i < MAX_USER_ALLOW_HOSTS; i++) {
      const res = await stack.api(carol.token, 'POST', '/api/allow-hosts', { body: { host: `h${i}.example.com` } });
      expect(res.status).toBe(201);
    }
    const over = await stack.api(carol.token, 'POST', '/api/allow-hosts', { body: { host: 'one-more.example.com' } });
    expect(over.status).toBe(409);
    expect(over.body.error.message).toMatch(/remove one first/);
    // An entry already there is still answered (adding is idempotent), and others are unaffected.
    expect(
      (await stack.api(carol.token, 'POST', '/api/allow-hosts', { body: { host: 'h0.example.com' } })).status,
    ).toBe(201);
    expect((await hostsOf(carol)).length).toBe(MAX_USER_ALLOW_HOSTS);
    expect((await stack.api(bob.token, 'POST', '/api/allow-hosts', { body: { host: 'b.example.com' } })).status).toBe(
      201,
    );
  });
});
