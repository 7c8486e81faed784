import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { rclaudeBin } from './rclaude-server.js';

/**
 * A real terminal for interactive tests: a detached tmux session of a given size running one command,
 * driven with send-keys and read with capture-pane.
 */
export class TmuxTerminal {
  readonly name = `rct-${randomBytes(4).toString('hex')}`;
  /** The command's exit status, written by the wrapper when it ends (tmux 3.3 does not report it reliably). */
  private readonly statusFile = path.join(os.tmpdir(), `${this.name}.status`);

  constructor(command: string, opts: { cols?: number; rows?: number; env?: Record<string, string> } = {}) {
    const env = Object.entries(opts.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const size = ['-x', String(opts.cols ?? 100), '-y', String(opts.rows ?? 30)];
    // The pane outlives the command (a shell sleeps after it), so its last screen stays as it was: tmux's own
    // remain-on-exit prints "Pane is dead" with a scroll that pushes the first line off the visible screen.
    const run = `${command}; echo $? > ${this.statusFile}; exec sleep 86400`;
    execFileSync('tmux', ['new-session', '-d', '-s', this.name, ...size, ...env, run]);
  }

  /** Types text literally (no key-name interpretation). */
  type(text: string): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, '-l', text]);
  }

  /** Sends key names (Enter, C-c, C-p, ...). */
  keys(...keys: string[]): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, ...keys]);
  }

  resize(cols: number, rows: number): void {
    execFileSync('tmux', ['resize-window', '-t', this.name, '-x', String(cols), '-y', String(rows)]);
  }

  screen(): string {
    return execFileSync('tmux', ['capture-pane', '-p', '-t', this.name], { encoding: 'utf8' });
  }

  /** The command's exit status once it has ended, else null. */
  exitStatus(): number | null {
    try {
      return Number.parseInt(fs.readFileSync(this.statusFile, 'utf8'), 10);
    } catch {
      return null;
    }
  }

  /** Polls the screen until `predicate` holds; throws with the last screen after `timeoutMs`. */
  async waitFor(predicate: (screen: string) => boolean, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = this.screen();
      if (predicate(last)) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for the terminal; screen was:\n${last}`);
  }

  close(): void {
    fs.rmSync(this.statusFile, { force: true });
    try {
      execFileSync('tmux', ['kill-session', '-t', this.name]);
    } catch {
      // Already gone.
    }
  }
}

/** The terminals one test file opens: `rclaude ARGS` through the linked bin, all closed by `closeAll()`. */
export class Terminals {
  private readonly open: TmuxTerminal[] = [];

  /** Runs the linked `rclaude` bin with `args` (shell words) in a new terminal, with the CLI's environment. */
  rclaude(cliEnv: Record<string, string>, args: string, size = { cols: 100, rows: 30 }): TmuxTerminal {
    const env = Object.entries(cliEnv)
      .map(([k, v]) => `${k}='${v.replaceAll("'", "'\\''")}'`)
      .join(' ');
    const t = new TmuxTerminal(`env ${env} ${rclaudeBin()} ${args}`, size);
    this.open.push(t);
    return t;
  }

  closeAll(): void {
    for (const t of this.open.splice(0)) t.close();
  }
}
