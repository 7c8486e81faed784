/** Largest file the editor opens for editing; bigger ones are view-only. */
export const EDITABLE_MAX_BYTES = 256 * 1024;

/**
 * Decodes bytes as UTF-8 text, or returns null when they look binary (a NUL byte in the first 8 KiB, or
 * invalid UTF-8 other than a multi-byte character cut at the end of a capped read).
 */
export function decodeText(bytes: Uint8Array, truncated: boolean): string | null {
  const probe = bytes.subarray(0, 8192);
  if (probe.includes(0)) return null;
  let body = bytes;
  if (truncated) {
    // A capped read may end inside a character: drop up to 3 trailing continuation/lead bytes.
    let end = bytes.length;
    let back = 0;
    while (back < 3 && end > 0 && ((bytes[end - 1] as number) & 0xc0) === 0x80) {
      end -= 1;
      back += 1;
    }
    if (end > 0 && ((bytes[end - 1] as number) & 0xc0) === 0xc0) end -= 1;
    body = bytes.subarray(0, end);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return null;
  }
}

const languageByExtension: Record<string, string> = {
  ts: 'typescript',
  tsx: 'typescript',
  mts: 'typescript',
  cts: 'typescript',
  js: 'javascript',
  jsx: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  json: 'json',
  jsonc: 'json',
  py: 'python',
  sh: 'bash',
  bash: 'bash',
  zsh: 'bash',
  css: 'css',
  scss: 'scss',
  html: 'xml',
  htm: 'xml',
  xml: 'xml',
  svg: 'xml',
  md: 'markdown',
  markdown: 'markdown',
  yml: 'yaml',
  yaml: 'yaml',
  toml: 'ini',
  ini: 'ini',
  cfg: 'ini',
  go: 'go',
  rs: 'rust',
  java: 'java',
  kt: 'kotlin',
  c: 'c',
  h: 'c',
  cc: 'cpp',
  cpp: 'cpp',
  hpp: 'cpp',
  cs: 'csharp',
  rb: 'ruby',
  php: 'php',
  sql: 'sql',
  diff: 'diff',
  patch: 'diff',
  swift: 'swift',
};

const languageByName: Record<string, string> = {
  dockerfile: 'dockerfile',
  makefile: 'makefile',
  '.bashrc': 'bash',
  '.profile': 'bash',
  '.env': 'bash',
};

/** The highlight.js language for a file name, or null for plain text. */
export function languageForFile(name: string): string | null {
  const lower = name.toLowerCase();
  const byName = languageByName[lower];
  if (byName) return byName;
  if (lower.startsWith('dockerfile')) return 'dockerfile';
  const dot = lower.lastIndexOf('.');
  if (dot <= 0) return null;
  return languageByExtension[lower.slice(dot + 1)] ?? null;
}

/** Human-readable size: `512 B`, `3.4 KB`, `12 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
