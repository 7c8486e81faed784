import { AppError } from '@rclaude/protocol';
import { addressBucket, type LoginLimiter, type LoginLimits } from '../auth/login-limiter.js';
import type { OriginCheck } from '../auth/origin.js';
import type { ShareService } from '../services/shares.js';
import type { Handlers, TaggedRouteName } from './mount-routes.js';

/**
 * How often one address may open one link's view before waiting: 60 free requests per link and per address
 * in a quiet minute, then doubling waits from 1 s to 1 min. A reload is one request; guessing a secret (256
 * bits) is hopeless anyway, so this bounds load, not guessing.
 */
export const shareViewLimits: LoginLimits = {
  freePerAccount: 60,
  freePerAddress: 60,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  windowMs: 60_000,
};

/** The handlers of the share-link routes (tag `shares` in the protocol's route table). */
export type ShareHandlers = Handlers<TaggedRouteName<'shares'>>;

/**
 * Share-link routes. `shareView` is public (the link's secret, in the body, is the credential) and mounted
 * before the account middleware, so it checks the browser Origin itself, and is throttled per link and per
 * client address with the sign-in limiter's rules (`limiter`, its own key prefix).
 */
export function createShareHandlers(deps: {
  shares: ShareService;
  limiter: LoginLimiter;
  originAllowed: OriginCheck;
}): ShareHandlers {
  const { shares, limiter, originAllowed } = deps;
  return {
    createShare: async ({ params, body }, ctx) => shares.create(ctx.auth(), params.id, body),
    listShares: async ({ query }, ctx) => ({ shares: await shares.list(ctx.auth(), query.task) }),
    revokeShare: async ({ params }, ctx) => shares.revoke(ctx.auth(), params.shareId),
    listDriveRequests: async ({ params }, ctx) => ({ requests: await shares.listDriveRequests(ctx.auth(), params.id) }),
    decideDriveRequest: async ({ params, body }, ctx) =>
      shares.decideDrive(ctx.auth(), params.requestId, body.decision),
    shareView: async ({ params, body }, { req }) => {
      const origin = req.headers.origin;
      if (origin !== undefined && !originAllowed(origin, req.headers.host)) {
        throw new AppError('ORIGIN_REFUSED', `requests from ${origin} are not allowed`);
      }
      const waitMs = await limiter.attempt(params.shareId, addressBucket(req.ip));
      if (waitMs > 0) {
        const retryAfterSeconds = Math.ceil(waitMs / 1000);
        throw new AppError('RATE_LIMITED', `too many requests for this link; try again in ${retryAfterSeconds} s`, {
          details: { retryAfterSeconds },
        });
      }
      return shares.view(params.shareId, body.secret);
    },
  };
}

/** For a server built without share links: every share route says so. */
export const noShares: ShareHandlers = (() => {
  const refuse = async (): Promise<never> => {
    throw new AppError('NOT_FOUND', 'this server has no share links');
  };
  return {
    createShare: refuse,
    listShares: refuse,
    revokeShare: refuse,
    shareView: refuse,
    listDriveRequests: refuse,
    decideDriveRequest: refuse,
  };
})();
