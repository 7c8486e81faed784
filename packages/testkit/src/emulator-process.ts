import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * A local command standing in for what runs inside an emulated sandbox. `env` is added on top of the
 * environment the provider passed; `cwd` is a host path (default: the sandbox's mapped `/workspace`).
 */
export interface EmulatedCommand {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

/** What a `commandFor` mapper may return: an argv, or an argv with extra env and a working directory. */
export type CommandMapping = string[] | EmulatedCommand;

export function toEmulatedCommand(mapping: CommandMapping): EmulatedCommand {
  return Array.isArray(mapping) ? { argv: mapping } : mapping;
}

/**
 * A sandbox's filesystem: in-sandbox absolute paths map under `root/fs`, so `/workspace` and
 * `/home/rclaude` exist as in the real image, and nothing can reach outside `root`.
 */
export interface SandboxFs {
  /** Host directory holding everything of this sandbox; removed when the sandbox goes away. */
  root: string;
  /** Host path of `/workspace`. */
  workspace: string;
  /** Host path of `/home/rclaude`. */
  home: string;
  /** Maps an in-sandbox path (absolute, or relative to `/workspace`) to the host. */
  map(inSandboxPath: string): string;
  remove(): Promise<void>;
}

export async function createSandboxFs(prefix: string): Promise<SandboxFs> {
  const root = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  const fsRoot = path.join(root, 'fs');
  const map = (p: string): string => {
    const absolute = path.posix.resolve('/workspace', p);
    return path.join(fsRoot, absolute);
  };
  const workspace = map('/workspace');
  const home = map('/home/rclaude');
  await mkdir(workspace, { recursive: true });
  await mkdir(home, { recursive: true });
  await mkdir(map('/tmp'), { recursive: true });
  return { root, workspace, home, map, remove: () => rm(root, { recursive: true, force: true }) };
}

/** How an emulated process ended. `exitCode` is shell style: the code, or 128 + signal number. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  exitCode: number;
}

const OUTPUT_KEEP_BYTES = 64 * 1024;

/**
 * A real local child process in its own process group, standing in for a sandbox's main process.
 * Signals go to the whole group so shells and their children stop together.
 */
export class EmulatedProcess {
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  /** Resolves when the process's stdout and stderr are closed too (all output delivered). */
  readonly drained: Promise<void>;
  exit: ProcessExit | null = null;
  private readonly child: ChildProcess;
  private recent = '';
  private readonly listeners = new Set<(stream: 'stdout' | 'stderr', chunk: Buffer) => void>();

  constructor(command: EmulatedCommand, env: Record<string, string>, defaultCwd: string) {
    const [program, ...args] = command.argv;
    if (!program) throw new Error('empty command');
    this.child = spawn(program, args, {
      cwd: command.cwd ?? defaultCwd,
      env: { ...env, ...command.env },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A spawn failure (ENOENT) has no pid; -1 never matches a real process.
    this.pid = this.child.pid ?? -1;
    const onData = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      this.recent = (this.recent + chunk.toString('utf8')).slice(-OUTPUT_KEEP_BYTES);
      for (const listener of this.listeners) listener(stream, chunk);
    };
    this.child.stdout?.on('data', onData('stdout'));
    this.child.stderr?.on('data', onData('stderr'));
    this.exited = new Promise<ProcessExit>((resolve) => {
      this.child.once('error', (error) => {
        if (this.child.pid !== undefined) return;
        this.recent += `\nspawn failed: ${error.message}\n`;
        this.exit = { code: 127, signal: null, exitCode: 127 };
        resolve(this.exit);
      });
      this.child.once('exit', (code, signal) => {
        if (this.exit) return;
        const signo = signal ? (os.constants.signals[signal] ?? 0) : 0;
        this.exit = { code, signal, exitCode: code ?? 128 + signo };
        resolve(this.exit);
      });
    });
    this.drained = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
  }

  /** Output seen so far (stdout and stderr interleaved, last 64 KiB), for failure messages. */
  get output(): string {
    return this.recent;
  }

  get running(): boolean {
    return this.exit === null;
  }

  /** Subscribes to output chunks; returns the unsubscribe function. */
  onOutput(listener: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sends `signal` to the process group. False when it is already gone. */
  signal(signal: NodeJS.Signals): boolean {
    if (this.exit || this.pid < 0) return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs` if the group is still there. Resolves when it has exited. */
  async stop(graceMs: number): Promise<ProcessExit> {
    if (this.exit) return this.exit;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The environment every emulated sandbox process starts from, before the provider's env. */
export function baseSandboxEnv(fs: SandboxFs): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: fs.home,
    TMPDIR: fs.map('/tmp'),
    LANG: 'C.UTF-8',
  };
}
