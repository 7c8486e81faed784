import fs from 'node:fs';
import path from 'node:path';

/**
 * What a running server leaves for CLIs on the same machine: its URL and the admin's login token, in
 * `<dataDir>/server.json`, mode 0600 (like Jupyter's runtime files). `pid` 0 means it has stopped.
 */
export interface LocalState {
  url: string;
  token: string;
  pid: number;
}

export const LOCAL_STATE_FILE = 'server.json';

export function readLocalState(dataDir: string): LocalState | null {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dataDir, LOCAL_STATE_FILE), 'utf8')) as Partial<LocalState>;
    if (typeof parsed.url !== 'string' || typeof parsed.token !== 'string') return null;
    return { url: parsed.url, token: parsed.token, pid: typeof parsed.pid === 'number' ? parsed.pid : 0 };
  } catch {
    return null;
  }
}

export function writeLocalState(dataDir: string, state: LocalState): void {
  const file = path.join(dataDir, LOCAL_STATE_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}
