import { safeText } from './output.js';

/** How long ago an ISO timestamp was, as `ls` shows it: `42s ago`, `5m ago`, `3h ago`, `2d ago`. */
export function age(iso: string): string {
  const secs = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (secs < 60) return `${Math.floor(secs)}s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)}h ago`;
  return `${Math.floor(secs / 86400)}d ago`;
}

/**
 * Prints rows under a header in aligned columns, two spaces apart (the listings' `--json`-less form).
 * Cells are names and texts of tasks, tokens and users: their control characters are shown as escapes.
 */
export function printTable(head: string[], unsafeRows: string[][]): void {
  const rows = unsafeRows.map((row) => row.map(safeText));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(head), ...rows.map(line)].join('\n')}\n`);
}
