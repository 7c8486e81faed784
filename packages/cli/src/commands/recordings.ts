import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Cast, parseCast } from '@rclaude/protocol';
import { type ApiClient, apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { playCast, playSteps } from '../terminal/cast-player.js';

interface Common {
  server?: string;
  /** A session of the task (id or unique prefix); its main session by default. */
  session?: string;
}

/** Largest recording `rclaude play` loads (the output log is bounded, so a real one is far smaller). */
const MAX_PLAY_BYTES = 256 * 1024 * 1024;

/** The recording's response, checked to be one. */
async function fetchRecording(api: ApiClient, sessionId: string): Promise<Response> {
  const res = await api.call('getSessionRecording', { params: { id: sessionId }, query: { format: 'cast' } });
  if (!res.body) throw new CliError('the server sent an empty recording');
  return res;
}

/** `rclaude logs ID --cast [--session S]`: the session's recording (asciicast v2) to stdout, streamed. */
export async function writeCast(ref: string, opts: Common): Promise<number> {
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const res = await fetchRecording(api, await api.resolveSession(task, opts.session));
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), process.stdout, {
    end: false,
  });
  return EXIT.ok;
}

/** `rclaude play ID [--speed N] [--idle-limit S] [--session S]`: replays the recording in this terminal. */
export async function playCommand(ref: string, opts: Common & { speed?: string; idleLimit?: string }): Promise<number> {
  const speed = positiveNumber(opts.speed ?? '1', '--speed', 'e.g. --speed 2 for twice as fast');
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);
  const res = await fetchRecording(api, await api.resolveSession(task, opts.session));
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_PLAY_BYTES) throw new CliError('the recording is too large to play here');
  let cast: Cast;
  try {
    cast = parseCast(await res.text());
  } catch (err) {
    throw new CliError(`the server sent a recording that is not asciicast v2: ${(err as Error).message}`);
  }
  const idleLimitS = positiveNumber(
    opts.idleLimit ?? String(cast.header.idle_time_limit ?? 2),
    '--idle-limit',
    'seconds, e.g. --idle-limit 1',
  );
  const steps = playSteps(cast, { speed, idleLimitS });
  if (steps.length === 0) {
    process.stderr.write('rclaude: nothing was recorded in this session\n');
    return EXIT.ok;
  }
  const { stdin, stdout, stderr } = process;
  const tty = stdin.isTTY === true && stdout.isTTY === true;
  if (tty && (cast.header.width > stdout.columns || cast.header.height > stdout.rows)) {
    stderr.write(
      `rclaude: recorded at ${cast.header.width}x${cast.header.height}, this terminal is ${stdout.columns}x${stdout.rows}; it may look wrong\r\n`,
    );
  }
  if (tty) {
    stdin.setRawMode(true);
    stdin.resume();
  }
  try {
    const how = await playCast(playSteps(cast, { speed, idleLimitS }), {
      out: stdout,
      ...(tty ? { keys: stdin } : {}),
    });
    if (tty) stdout.write(`\x1b[0m\r\n${how === 'quit' ? 'stopped' : 'end of recording'}\r\n`);
  } finally {
    if (tty) {
      stdin.setRawMode(false);
      stdin.pause();
    }
  }
  return EXIT.ok;
}

function positiveNumber(text: string, flag: string, hint: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag} must be a positive number, not "${text}"`, 1, hint);
  return n;
}
