import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { PushNotification } from '@rclaude/protocol';
import webpush from 'web-push';
import { addressRefusal, type EndpointPolicy, endpointRefusal } from './endpoint-policy.js';
import type { VapidKeys } from './vapid.js';

/** What the push service answered. `status` null: it could not be reached (or the endpoint was refused). */
export interface PushOutcome {
  status: number | null;
  /** 2xx: the push service took the message. */
  delivered: boolean;
  /** 404/410: the subscription is gone for good and should be dropped. */
  gone: boolean;
  /** Why it was not delivered, for the log. */
  error?: string;
}

export interface PushTarget {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface PushSenderOptions {
  vapid: VapidKeys;
  policy: EndpointPolicy;
  /** How long a push service gets to answer. Default 10 s. */
  timeoutMs?: number;
  /** How long the push service keeps an undelivered message (the `TTL` header). Default 24 h. */
  ttlSeconds?: number;
}

/** A lookup that refuses names resolving to addresses the policy forbids, so the socket only goes where we checked. */
function guardedLookup(policy: EndpointPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = Array.isArray(addresses) ? addresses : [];
      for (const a of list) {
        const refusal = addressRefusal(a.address, policy);
        if (refusal) return callback(Object.assign(new Error(refusal), { code: 'EPUSHREFUSED' }), '', 0);
      }
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      if (options.all) return callback(null, list);
      callback(null, first.address, first.family);
    });
  };
}

/**
 * Sends Web Push messages: the payload encrypted for the browser (aes128gcm, RFC 8291) and signed with the
 * server's VAPID key (RFC 8292) by `web-push`, then posted by this class itself, because `web-push` posts over
 * https only and follows no address policy. Every send checks the endpoint again and connects only to addresses
 * the policy allows (names are resolved here, each address checked). Redirects are not followed.
 */
export class PushSender {
  private readonly timeoutMs: number;
  private readonly ttlSeconds: number;

  constructor(private readonly opts: PushSenderOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.ttlSeconds = opts.ttlSeconds ?? 24 * 3600;
  }

  get publicKey(): string {
    return this.opts.vapid.publicKey;
  }

  async send(
    target: PushTarget,
    notification: PushNotification,
    urgency: 'normal' | 'high' = 'normal',
  ): Promise<PushOutcome> {
    const refusal = endpointRefusal(target.endpoint, this.opts.policy);
    if (refusal) return { status: null, delivered: false, gone: false, error: refusal };
    const details = webpush.generateRequestDetails(
      { endpoint: target.endpoint, keys: target.keys },
      JSON.stringify(notification),
      {
        vapidDetails: this.opts.vapid,
        TTL: this.ttlSeconds,
        urgency,
        contentEncoding: 'aes128gcm',
      },
    );
    const url = new URL(details.endpoint);
    const body = details.body ?? Buffer.alloc(0);
    const headers: Record<string, string | number> = { ...details.headers, 'Content-Length': body.length };
    const request = url.protocol === 'https:' ? https.request : http.request;
    return new Promise<PushOutcome>((resolve) => {
      const req = request(
        url,
        { method: details.method, headers, lookup: guardedLookup(this.opts.policy), timeout: this.timeoutMs },
        (res) => {
          const status = res.statusCode ?? 0;
          // The body says nothing we act on; read and drop it (bounded by the push service, not kept).
          res.resume();
          res.on('end', () =>
            resolve({
              status,
              delivered: status >= 200 && status < 300,
              gone: status === 404 || status === 410,
              ...(status >= 200 && status < 300 ? {} : { error: `the push service answered ${status}` }),
            }),
          );
          res.on('error', (err) => resolve({ status, delivered: false, gone: false, error: err.message }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => resolve({ status: null, delivered: false, gone: false, error: err.message }));
      req.end(body);
    });
  }
}
