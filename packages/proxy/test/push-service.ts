/**
 * A push service and a browser for the Web Push tests, both on loopback: the service records what the proxy
 * posts (and answers what the test says), the browser side holds the P-256 key pair and auth secret a real
 * browser would and decrypts a message the way it would (RFC 8291, with `http_ece`).
 */
import { createECDH, createPublicKey, type ECDH, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type PushNotification, pushNotificationSchema } from '@rclaude/protocol';
import ece from 'http_ece';
import { z } from 'zod';

/** One POST the push service received. */
export interface ReceivedPush {
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface FakePushService {
  url: string;
  received: ReceivedPush[];
  /** The status answered for a path (default 201). */
  answer(path: string, status: number): void;
  close(): Promise<void>;
}

export async function startFakePushService(): Promise<FakePushService> {
  const received: ReceivedPush[] = [];
  const answers = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 64 * 1024) chunks.push(c);
    });
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(answers.get(path) ?? 201).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    answer: (path, status) => answers.set(path, status),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What a browser's PushManager holds for one subscription. */
export interface FakeBrowserSubscription {
  endpoint: string;
  keys: { p256dh: string; auth: string };
  ecdh: ECDH;
  authSecret: Buffer;
}

export function fakeBrowserSubscription(endpoint: string): FakeBrowserSubscription {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const authSecret = randomBytes(16);
  return {
    endpoint,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: authSecret.toString('base64url') },
    ecdh,
    authSecret,
  };
}

/** Decrypts a received message as the browser would, and parses it as a notification. */
export function decryptPush(sub: FakeBrowserSubscription, push: ReceivedPush): PushNotification {
  const plain = ece.decrypt(push.body, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.authSecret });
  return pushNotificationSchema.parse(JSON.parse(plain.toString('utf8')));
}

/**
 * Checks a message's VAPID `Authorization: vapid t=<JWT>, k=<public key>` header as a push service does: the key
 * is `publicKey`, the JWT is ES256-signed by it, for this push service's origin, not expired. Returns its claims.
 */
export function verifyVapid(
  push: ReceivedPush,
  publicKey: string,
  audience: string,
): { aud: string; exp: number; sub: string } {
  const header = push.headers.authorization ?? '';
  const m = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(header);
  if (!m?.[1] || !m[2]) throw new Error(`not a VAPID authorization header: ${header}`);
  if (m[2] !== publicKey) throw new Error('the VAPID key is not the server\u2019s');
  const [h, p, s] = m[1].split('.');
  if (!h || !p || !s) throw new Error('malformed JWT');
  const raw = Buffer.from(publicKey, 'base64url');
  const key = createPublicKey({
    key: {
      kty: 'EC',
      crv: 'P-256',
      x: raw.subarray(1, 33).toString('base64url'),
      y: raw.subarray(33, 65).toString('base64url'),
    },
    format: 'jwk',
  });
  const ok = verify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    { key, dsaEncoding: 'ieee-p1363' },
    Buffer.from(s, 'base64url'),
  );
  if (!ok) throw new Error('the VAPID JWT signature does not verify');
  const claims = z
    .object({ aud: z.string(), exp: z.number(), sub: z.string() })
    .parse(JSON.parse(Buffer.from(p, 'base64url').toString('utf8')));
  if (claims.aud !== audience) throw new Error(`JWT audience ${claims.aud}, expected ${audience}`);
  if (claims.exp * 1000 < Date.now()) throw new Error('the VAPID JWT has expired');
  return claims;
}
