import { z } from 'zod';

/**
 * A path inside a task's workspace, relative to its root ("" or "." is the root). The agent resolves and
 * confines it; these checks only turn away what is malformed on its face.
 */
export const workspacePathSchema = z
  .string()
  .max(4096)
  .refine((p) => !p.includes('\u0000'), 'a path has no NUL byte');

export const fileTypeSchema = z.enum(['file', 'dir', 'symlink', 'other']);
export type FileType = z.infer<typeof fileTypeSchema>;

export const fileEntrySchema = z.object({
  name: z.string(),
  /** Path relative to the workspace root, with `/` separators. */
  path: z.string(),
  type: fileTypeSchema,
  size: z.number().int().nonnegative(),
  /** Modification time, ISO 8601. */
  mtime: z.string(),
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

export const listFilesResponseSchema = z.object({
  path: z.string(),
  entries: z.array(fileEntrySchema),
  /** True when the folder holds more entries than one listing returns; `entries` are the first by name. */
  truncated: z.boolean().optional(),
  /**
   * Set when no sandbox runs (a hibernated or ended task): the listing is of this checkpoint, read-only, and
   * `mtime` is the checkpoint's time.
   */
  checkpointId: z.string().optional(),
});
export type ListFilesResponse = z.infer<typeof listFilesResponseSchema>;

export const filePathQuerySchema = z.object({ path: workspacePathSchema.default('') }).strict();

export const readFileQuerySchema = z
  .object({
    path: workspacePathSchema,
    offset: z.coerce.number().int().nonnegative().default(0),
    length: z.coerce.number().int().positive().optional(),
  })
  .strict();

/** `PUT /files/content` and `GET /files/download`: the one file addressed. */
export const fileTargetQuerySchema = z.object({ path: workspacePathSchema }).strict();

/** `POST /files/upload`: the folder the uploaded files land in ("" is the workspace root). */
export const uploadFilesQuerySchema = z.object({ dir: workspacePathSchema.default('') }).strict();

export const deleteFileQuerySchema = z
  .object({
    path: workspacePathSchema,
    recursive: z
      .enum(['true', 'false'])
      .transform((v) => v === 'true')
      .default(false),
  })
  .strict();

export const writeFileResponseSchema = z.object({ path: z.string(), size: z.number().int().nonnegative() });
export type WriteFileResponse = z.infer<typeof writeFileResponseSchema>;

/** What `POST /files/upload` answers: each stored file, in the order it arrived. */
export const uploadFilesResponseSchema = z.object({ files: z.array(writeFileResponseSchema) });
export type UploadFilesResponse = z.infer<typeof uploadFilesResponseSchema>;

/** Agent RPC payloads (proxy -> agent, answered by acknowledgement). Data travels as bytes. */
export const agentFileListSchema = z.object({ path: workspacePathSchema }).strict();
export const agentFileReadSchema = z
  .object({
    path: workspacePathSchema,
    offset: z.number().int().nonnegative(),
    /** At most this many bytes come back; the caller loops for more. */
    length: z
      .number()
      .int()
      .positive()
      .max(4 * 1024 * 1024),
  })
  .strict();
export type AgentFileRead = z.infer<typeof agentFileReadSchema>;
export interface AgentFileReadResult {
  data: Uint8Array;
  /** Total size of the file. */
  size: number;
  eof: boolean;
}
export const agentFileWriteSchema = z
  .object({
    path: workspacePathSchema,
    data: z.instanceof(Uint8Array),
    /** `truncate` starts the file anew; `append` adds to what the previous chunk wrote. */
    mode: z.enum(['truncate', 'append']),
  })
  .strict();
export type AgentFileWrite = z.infer<typeof agentFileWriteSchema>;
export const agentFileDeleteSchema = z.object({ path: workspacePathSchema, recursive: z.boolean() }).strict();
export const agentFileStatSchema = z.object({ path: workspacePathSchema }).strict();

// ---- sync (ADR 0022) -------------------------------------------------------------------------------

/** Longest wait of one `GET /files/changes` long poll, in ms. */
export const SYNC_MAX_WAIT_MS = 25_000;
/** Most entries one `GET /files/manifest` page holds (well under Socket.io's 1 MB frame). */
export const SYNC_MANIFEST_PAGE = 2000;
/** Most changes one `GET /files/changes` answer carries; more wait for the next poll. */
export const SYNC_MAX_CHANGES = 500;

const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

/** The sha256 of no bytes: what a folder's entry carries as its `sha256`. */
export const SYNC_EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** What sync keeps of a workspace entry: a regular file, a symbolic link (its text, never followed), a folder. */
export const syncEntryTypeSchema = z.enum(['file', 'link', 'dir']);
export type SyncEntryType = z.infer<typeof syncEntryTypeSchema>;

/** A symbolic link's text as sync carries it: data, never followed; no NUL, at most 4096 characters. */
export const syncLinkTargetSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((t) => !t.includes('\u0000'), 'a link target has no NUL byte');

/**
 * One workspace entry as sync sees it. `sha256` is the file's content hash, a link's hash of its text
 * (`target`), {@link SYNC_EMPTY_SHA256} for a folder. `exec` is the owner's executable bit of a file (false
 * for the others); no other mode bit travels.
 */
export const syncEntrySchema = z.object({
  path: z.string().min(1).max(4096),
  type: syncEntryTypeSchema,
  size: z.number().int().nonnegative(),
  mtimeMs: z.number().nonnegative(),
  sha256: sha256Schema,
  exec: z.boolean(),
  target: syncLinkTargetSchema.optional(),
});
export type SyncEntry = z.infer<typeof syncEntrySchema>;

/** `GET /api/tasks/:id/files/manifest`: a page of the workspace's files, links and folders, by path, after `after`. */
export const syncManifestQuerySchema = z.object({ after: workspacePathSchema.optional() }).strict();
export const syncManifestResponseSchema = z.object({
  entries: z.array(syncEntrySchema).max(SYNC_MANIFEST_PAGE),
  /** Pass as `after` for the next page; absent on the last page. */
  next: z.string().optional(),
});
export type SyncManifestResponse = z.infer<typeof syncManifestResponseSchema>;

/** `GET /api/tasks/:id/files/changes`: what changed in the workspace after `cursor` (long poll). */
export const syncChangesQuerySchema = z
  .object({
    cursor: z.coerce.number().int().nonnegative().optional(),
    waitMs: z.coerce.number().int().nonnegative().max(SYNC_MAX_WAIT_MS).default(20_000),
  })
  .strict();
export const syncChangeSchema = z.discriminatedUnion('kind', [
  syncEntrySchema.extend({ kind: z.literal('change') }),
  z.object({ kind: z.literal('delete'), path: z.string().min(1).max(4096) }),
]);
export type SyncChange = z.infer<typeof syncChangeSchema>;
export const syncChangesResponseSchema = z.object({
  /** Pass as `cursor` next time. */
  cursor: z.number().int().nonnegative(),
  /** Each path at most once, as it is now (a file's hash, or gone). */
  changes: z.array(syncChangeSchema).max(SYNC_MAX_CHANGES),
  /**
   * True when changes since `cursor` were not all kept (a new watcher, or more than its buffer holds): the
   * caller reconciles from a fresh manifest.
   */
  reset: z.boolean(),
});
export type SyncChangesResponse = z.infer<typeof syncChangesResponseSchema>;

/** `POST /api/tasks/:id/files/rename`: moves a file (replacing a file at `to`, never a folder). */
export const renameFileRequestSchema = z.object({ from: workspacePathSchema, to: workspacePathSchema }).strict();
export const renameFileResponseSchema = z.object({ path: z.string() });

/** Agent RPC payloads of sync. */
export const agentFileManifestSchema = z.object({ after: workspacePathSchema.optional() }).strict();
export const agentFileChangesSchema = z
  .object({
    cursor: z.number().int().nonnegative().optional(),
    waitMs: z.number().int().nonnegative().max(SYNC_MAX_WAIT_MS),
  })
  .strict();
export const agentFileRenameSchema = renameFileRequestSchema;

/**
 * What the caller last saw at a path (null: nothing), for the compare-and-swap of `files:sync-apply`: the
 * agent changes the path only while it still holds exactly this (type, sha256 and, for a file, exec).
 */
export const syncExpectSchema = z
  .object({ type: syncEntryTypeSchema, sha256: sha256Schema, exec: z.boolean() })
  .strict()
  .nullable();
export type SyncExpect = z.infer<typeof syncExpectSchema>;

/**
 * `POST /api/tasks/:id/files/sync-apply` (and the agent's `files:sync-apply`): one change of rclaude sync,
 * made only if `path` still holds `expect`:
 * - `put`: the file uploaded at `from` (a temporary name in the same folder) replaces `path`, with the exec bit;
 * - `link`: `path` becomes a symbolic link with text `target` (never followed);
 * - `mkdir`: `path` becomes a folder; `chmod`: the file at `path` gets (or loses) its exec bit;
 * - `delete`: the file, link or empty folder at `path` goes.
 */
export const syncApplyRequestSchema = z.discriminatedUnion('op', [
  z
    .object({
      op: z.literal('put'),
      path: workspacePathSchema,
      from: workspacePathSchema,
      exec: z.boolean(),
      expect: syncExpectSchema,
    })
    .strict(),
  z
    .object({
      op: z.literal('link'),
      path: workspacePathSchema,
      target: syncLinkTargetSchema,
      expect: syncExpectSchema,
    })
    .strict(),
  z.object({ op: z.literal('mkdir'), path: workspacePathSchema, expect: syncExpectSchema }).strict(),
  z.object({ op: z.literal('chmod'), path: workspacePathSchema, exec: z.boolean(), expect: syncExpectSchema }).strict(),
  z.object({ op: z.literal('delete'), path: workspacePathSchema, expect: syncExpectSchema }).strict(),
]);
export type SyncApplyRequest = z.infer<typeof syncApplyRequestSchema>;

/**
 * The answer of `files:sync-apply`: `applied` false when the path no longer held `expect` (nothing was
 * changed; a folder to delete that is not empty counts as changed); `entry` is what the path holds now.
 */
export const syncApplyResponseSchema = z.object({ applied: z.boolean(), entry: syncEntrySchema.nullable() });
export type SyncApplyResponse = z.infer<typeof syncApplyResponseSchema>;
