import { z } from 'zod';
import { checkpointManifestSchema } from './checkpoints.js';
import { providerNameSchema, taskSchema } from './tasks.js';

/**
 * Moving work between a laptop and sandboxes (docs/moving-work.md, adr/0016): a task started from a local
 * directory (`rclaude run --here`, an import), and forks of a task started from its latest checkpoint.
 */

/** Most forks one request makes. */
export const MAX_FORKS = 10;

/** `POST /api/tasks/:id/fork`. */
export const forkTaskRequestSchema = z
  .object({
    /** How many forks (default 1). */
    count: z.number().int().min(1).max(MAX_FORKS).optional(),
    /** A new prompt each fork answers (`claude -p`) in the continued conversation; none: the same program resumes. */
    prompt: z.string().min(1).max(100_000).optional(),
    cols: z.number().int().min(1).max(1000).optional(),
    rows: z.number().int().min(1).max(1000).optional(),
  })
  .strict();
export type ForkTaskRequest = z.infer<typeof forkTaskRequestSchema>;

export const forkTaskResponseSchema = z.object({
  /** The checkpoint every fork starts from. */
  checkpointId: z.string(),
  tasks: z.array(taskSchema),
});
export type ForkTaskResponse = z.infer<typeof forkTaskResponseSchema>;

/**
 * The body of `POST /api/tasks/import` is a tar stream. Its first entry is a regular file named
 * {@link IMPORT_HEADER_ENTRY} holding {@link importHeaderSchema} as JSON; every later entry is a regular file
 * named by the lowercase hex SHA-256 of its bytes, one per blob the manifest names (each once, any order).
 */
export const IMPORT_HEADER_ENTRY = 'rclaude-import.json';

/** Largest header entry (the manifest of a large repository is a few megabytes). */
export const IMPORT_HEADER_MAX_BYTES = 64 * 1024 * 1024;

/** What an imported task runs; the rest of a task's settings do not apply to a workspace that arrives whole. */
export const importTaskOptionsSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    provider: providerNameSchema.optional(),
    /** The program to run; default Claude Code (continuing the uploaded conversation, if there is one). */
    command: z
      .array(z.string().max(32 * 1024))
      .min(1)
      .max(1000)
      .optional(),
    /** A prompt for `claude -p` (in the uploaded conversation, if there is one). Exclusive with `command`. */
    prompt: z.string().min(1).max(100_000).optional(),
    cols: z.number().int().min(1).max(1000).optional(),
    rows: z.number().int().min(1).max(1000).optional(),
    allowHosts: z.array(z.string().min(1).max(255)).max(32).optional(),
  })
  .strict()
  .refine((b) => !(b.command && b.prompt), { message: 'give a command or a prompt, not both' });
export type ImportTaskOptions = z.infer<typeof importTaskOptionsSchema>;

export const importHeaderSchema = z
  .object({
    task: importTaskOptionsSchema,
    /**
     * The workspace (root `workspace`, `.git` included) and, to continue a conversation, Claude Code's folder
     * for it (root `claude`) with `claudeSessionId` naming the conversation.
     */
    manifest: checkpointManifestSchema,
  })
  .strict();
export type ImportHeader = z.infer<typeof importHeaderSchema>;

/**
 * The name of Claude Code's conversation folder for a directory, under `~/.claude/projects/`: the directory's
 * real absolute path with every character but ASCII letters and digits made `-` (`/work/my_app` ->
 * `-work-my-app`). The agent (a sandbox's workspace) and the CLI (a laptop's clone) both use it. Claude Code
 * shortens names over 200 characters with a hash suffix this does not reproduce.
 */
export function claudeProjectFolderName(absolute: string): string {
  return absolute.replace(/[^a-zA-Z0-9]/g, '-');
}
