import { z } from 'zod';

/** Shared by the task schema and the pull-request routes (a file of its own, so `tasks.ts` imports no cycle). */

/** `owner/name` of a GitHub repository. */
export const githubRepoSchema = z
  .string()
  .max(201)
  .regex(/^[A-Za-z0-9-]{1,100}\/[A-Za-z0-9._-]{1,100}$/, 'a GitHub repository is owner/name')
  .refine((s) => !s.endsWith('/.') && !s.endsWith('/..'), 'a GitHub repository is owner/name');

/** A full git commit id (SHA-1 or SHA-256). */
export const commitIdSchema = z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/, 'a full commit id');

/** A task's pull request, as stored on the task and in the `pull_request` event. */
export const pullRequestInfoSchema = z.object({
  url: z.string().max(2048),
  number: z.number().int().positive(),
  /** `owner/name`. */
  repo: z.string().max(201),
  /** The head branch (the task's pushed branch) and the base it merges into. */
  branch: z.string().max(255),
  base: z.string().max(255),
  commit: commitIdSchema,
  /** False when a pull request for the branch was already open (the push added to it). */
  created: z.boolean(),
});
export type PullRequestInfo = z.infer<typeof pullRequestInfoSchema>;
