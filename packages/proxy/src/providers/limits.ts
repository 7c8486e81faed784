/**
 * Resource limits of one sandbox (RCLAUDE_SANDBOX_MEMORY, _CPUS, _PIDS, _DISK). A zero means no limit.
 * Local sandboxes get them from cgroups (or rlimits, see adr/0010-sandbox-limits.md), docker ones from the
 * engine; the words a task's timeline shows when one is reached are {@link limitReason}'s.
 */
export interface SandboxLimits {
  /** Memory of all its processes together, bytes (tmpfs /tmp included). */
  memoryBytes: number;
  /** CPU time per second of wall time, in cores (fractions allowed). */
  cpus: number;
  /** Processes and threads alive at once. */
  pids: number;
  /** Workspace and home on disk, bytes. */
  diskBytes: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  memoryBytes: 4 * 1024 ** 3,
  cpus: 2,
  pids: 512,
  diskBytes: 10 * 1024 ** 3,
};

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * Bytes from a size such as `4GiB`, `4G`, `512MiB`, `512m` or `1073741824`. Units are binary (K = 1024), with
 * or without `i` and `B`; a bare number is bytes. Null when `text` is not a size.
 */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(text);
  if (!m) return null;
  const unit = (m[2] ?? '').toLowerCase();
  if (unit === '' && (m[3] ?? '').toLowerCase().startsWith('i')) return null;
  const bytes = Math.round(Number(m[1]) * (UNITS[unit] ?? 1));
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** `4 GiB`, `128 MiB`, `1.5 GiB`, `512 B`: the largest binary unit that keeps the number at least 1. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  const shown = Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${units[i]}`;
}

export type LimitKind = 'memory' | 'pids' | 'disk';

/** What the task's timeline says when its sandbox reached a limit. */
export function limitReason(kind: LimitKind, limits: SandboxLimits): string {
  switch (kind) {
    case 'memory':
      return `the sandbox ran out of memory (limit ${formatSize(limits.memoryBytes)})`;
    case 'pids':
      return `the sandbox reached its process limit (${limits.pids})`;
    case 'disk':
      return `the sandbox workspace exceeded ${formatSize(limits.diskBytes)} (its disk limit)`;
  }
}
