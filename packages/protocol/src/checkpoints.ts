import { z } from 'zod';

/**
 * Checkpoints: a task's work packed by its agent (the workspace, and Claude Code's conversation for it) and
 * kept by the proxy, so a task can hibernate, be resumed in a new sandbox, or be read while no sandbox runs.
 * See docs/checkpoints.md and adr/0012.
 *
 * A checkpoint is a manifest (this file's {@link checkpointManifestSchema}) over content-addressed blobs: each
 * regular file is stored once per owner under the SHA-256 of its bytes, so a second checkpoint of a mostly
 * unchanged workspace uploads only what changed.
 */

/** Version of the manifest format; a reader refuses any other. */
export const CHECKPOINT_FORMAT = 1;

/** A blob's name: the lowercase hex SHA-256 of its bytes. */
export const blobHashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a blob hash is 64 lowercase hex digits');

/** Checkpoint ids: `cp_` and lowercase base32, issued by the proxy. */
export const checkpointIdSchema = z
  .string()
  .regex(/^cp_[a-z0-9]{8,32}$/, 'a checkpoint id is cp_ and 8 to 32 letters or digits');

/**
 * A path inside one of a checkpoint's roots: relative, `/`-separated, no empty, `.` or `..` segment, no NUL or
 * backslash, at most 4096 characters (each segment at most 255). A manifest comes from a sandbox, which runs
 * arbitrary code: every path is checked before anyone uses it.
 */
export const checkpointPathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine(
    (p) =>
      !p.startsWith('/') &&
      !/[\u0000\\]/.test(p) &&
      p.split('/').every((seg) => seg.length > 0 && seg.length <= 255 && seg !== '.' && seg !== '..'),
    'a checkpoint path is relative, with no empty, "." or ".." segment, NUL or backslash',
  );

/**
 * The roots a checkpoint holds: `workspace` (the task's working tree, `.git` included) and `claude` (Claude
 * Code's conversation folder for that workspace, `~/.claude/projects/<encoded workspace path>`, so a restored
 * sandbox at another path still finds it).
 */
export const checkpointRootSchema = z.enum(['workspace', 'claude']);
export type CheckpointRoot = z.infer<typeof checkpointRootSchema>;

const modeSchema = z.number().int().min(0).max(0o7777);

export const manifestEntrySchema = z.discriminatedUnion('type', [
  z
    .object({ type: z.literal('dir'), root: checkpointRootSchema, path: checkpointPathSchema, mode: modeSchema })
    .strict(),
  z
    .object({
      type: z.literal('file'),
      root: checkpointRootSchema,
      path: checkpointPathSchema,
      mode: modeSchema,
      size: z.number().int().nonnegative(),
      hash: blobHashSchema,
    })
    .strict(),
  z
    .object({
      type: z.literal('symlink'),
      root: checkpointRootSchema,
      path: checkpointPathSchema,
      /** Stored as written; a restore writes it back as a link and never follows it. */
      target: z.string().min(1).max(4096),
    })
    .strict(),
]);
export type ManifestEntry = z.infer<typeof manifestEntrySchema>;

/** Most entries one manifest may hold. */
export const CHECKPOINT_MAX_ENTRIES = 500_000;

export const checkpointManifestSchema = z
  .object({
    format: z.literal(CHECKPOINT_FORMAT),
    /** When the agent finished reading the workspace (ISO 8601). */
    createdAt: z.string(),
    /** The workspace's absolute path in the sandbox that made it (for people; a restore may be elsewhere). */
    workspace: z.string().max(4096),
    /**
     * What the ignore policy left out, for people and for the restore's report: e.g. `node_modules` with how
     * many folders and bytes. A lockfile next to a left-out folder is kept, so it can be rebuilt.
     */
    excluded: z
      .array(
        z
          .object({ name: z.string().max(255), dirs: z.number().int().nonnegative(), bytes: z.number().nonnegative() })
          .strict(),
      )
      .max(100),
    /** Claude Code's most recent conversation in the workspace (its session id), if there is one. */
    claudeSessionId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,127}$/)
      .nullable(),
    /** Parents come before their children; paths are unique per root. */
    entries: z.array(manifestEntrySchema).max(CHECKPOINT_MAX_ENTRIES),
  })
  .strict();
export type CheckpointManifest = z.infer<typeof checkpointManifestSchema>;

/** What made a checkpoint; `fork` and `import` are copies made for a new task (a fork's, an upload's). */
export const checkpointTriggers = ['manual', 'periodic', 'hibernate', 'stop', 'shutdown', 'fork', 'import'] as const;
export const checkpointTriggerSchema = z.enum(checkpointTriggers);
export type CheckpointTrigger = z.infer<typeof checkpointTriggerSchema>;

/** A checkpoint as the API lists it. */
export const checkpointSchema = z.object({
  id: checkpointIdSchema,
  taskId: z.string(),
  createdAt: z.string(),
  trigger: checkpointTriggerSchema,
  /** Regular files, and their total bytes. */
  files: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  /** Bytes this checkpoint uploaded (blobs no earlier checkpoint of the owner had). */
  uploadedBytes: z.number().nonnegative(),
  durationMs: z.number().nonnegative(),
  claudeSessionId: z.string().nullable(),
});
export type Checkpoint = z.infer<typeof checkpointSchema>;

export const listCheckpointsResponseSchema = z.object({ checkpoints: z.array(checkpointSchema) });
export type ListCheckpointsResponse = z.infer<typeof listCheckpointsResponseSchema>;

export const createCheckpointRequestSchema = z.object({}).strict();

export const resumeTaskRequestSchema = z
  .object({
    /** The checkpoint to start from; default the latest. */
    at: checkpointIdSchema.optional(),
    cols: z.number().int().min(1).max(1000).optional(),
    rows: z.number().int().min(1).max(1000).optional(),
  })
  .strict();
export type ResumeTaskRequest = z.infer<typeof resumeTaskRequestSchema>;

export const stopTaskRequestSchema = z
  .object({
    /** Stop even when the checkpoint before it fails (the work since the last checkpoint is then lost). */
    force: z.boolean().optional(),
  })
  .strict();
export type StopTaskRequest = z.infer<typeof stopTaskRequestSchema>;

// ---- agent side: the proxy asks, the agent packs or restores over HTTP -----------------------------------

/**
 * Where an agent moves checkpoint data, on the proxy's HTTP port (or the agent socket), authenticated like the
 * egress gateway: {@link EGRESS_SANDBOX_HEADER} with its sandbox id and `authorization: Bearer <egressKey>`.
 * `:cp` is the checkpoint the proxy asked for; the proxy refuses any other.
 * - `POST {base}/:cp/missing`  JSON {@link missingBlobsRequestSchema} -> {@link missingBlobsResponseSchema}
 * - `PUT  {base}/:cp/blobs`    a tar stream, one regular-file entry per blob named by its hash -> {@link putBlobsResponseSchema}
 * - `PUT  {base}/:cp/manifest` JSON {@link checkpointManifestSchema} (gzip content-encoding allowed) -> {@link checkpointSchema}
 * - `GET  {base}/:cp/manifest` -> the manifest (to restore)
 * - `GET  {base}/:cp/blobs`    -> a tar stream of every blob the manifest names, each once, named by its hash
 */
export const AGENT_CHECKPOINTS_PATH = '/agent/checkpoints';

/** Most hashes one `missing` request may ask about (an agent asks in batches). */
export const MISSING_BLOBS_BATCH = 10_000;

export const missingBlobsRequestSchema = z
  .object({ hashes: z.array(blobHashSchema).max(MISSING_BLOBS_BATCH) })
  .strict();
export const missingBlobsResponseSchema = z.object({ missing: z.array(blobHashSchema) });
export const putBlobsResponseSchema = z.object({
  blobs: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
});

/** `checkpoint:create`: pack the workspace and upload it as checkpoint `checkpointId`. */
export interface AgentCheckpointRequest {
  checkpointId: string;
}

/** What the agent did for `checkpoint:create`. */
export interface AgentCheckpointResult {
  files: number;
  bytes: number;
  /** Blobs and bytes it uploaded (the rest the store had). */
  uploadedBlobs: number;
  uploadedBytes: number;
  claudeSessionId: string | null;
}

/** `checkpoint:restore`: bring checkpoint `checkpointId` into this (fresh) sandbox's workspace. */
export interface AgentRestoreRequest {
  checkpointId: string;
}

/** What a restore brought back, verified against the manifest before anything was moved into place. */
export interface AgentRestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /**
   * Entries that could not be brought back exactly (a mode the sandbox may not set, a link it may not make),
   * as `path: what differs`. A blob whose bytes do not match its hash, or a missing one, fails the whole
   * restore instead (CHECKPOINT_CORRUPT), before anything is moved into the workspace.
   */
  mismatches: string[];
  claudeSessionId: string | null;
}

// ---- timeline ----------------------------------------------------------------------------------------

/** `checkpoint` on a task's timeline: one was taken, or taking one failed (`error`). */
export const checkpointEventSchema = z.object({
  trigger: checkpointTriggerSchema,
  checkpointId: checkpointIdSchema.optional(),
  files: z.number().int().nonnegative().optional(),
  bytes: z.number().nonnegative().optional(),
  uploadedBytes: z.number().nonnegative().optional(),
  durationMs: z.number().nonnegative().optional(),
  /** Why it failed, for people. */
  error: z.string().max(2000).optional(),
});
export type CheckpointEventData = z.infer<typeof checkpointEventSchema>;

/** `restore` on a task's timeline: a resumed sandbox brought a checkpoint back. */
export const restoreEventSchema = z.object({
  checkpointId: checkpointIdSchema,
  /** How old the checkpoint was when it was restored (what a crash lost at most). */
  ageMs: z.number().nonnegative(),
  files: z.number().int().nonnegative(),
  bytes: z.number().nonnegative(),
  mismatches: z.array(z.string().max(4200)).max(100),
  durationMs: z.number().nonnegative(),
});
export type RestoreEventData = z.infer<typeof restoreEventSchema>;

/** `keep` answer: when the idle task will hibernate now, if nothing else happens (null: not counting down). */
export const keepTaskResponseSchema = z.object({ hibernateAt: z.string().nullable() });
export type KeepTaskResponse = z.infer<typeof keepTaskResponseSchema>;
