import { loginLinkUrl } from '@rclaude/protocol';
import { apiClientFor } from '../api.js';
import { EXIT } from '../errors.js';
import { safeJson, safeText } from '../output.js';

export interface WebOptions {
  server?: string;
  /** Print the link instead of opening a browser. */
  print?: boolean;
  /** Print `{ url, expiresAt }` and open nothing. */
  json?: boolean;
}

/** Whether `rclaude web` can open a browser here, and if not, why (said to the person). */
export type BrowserAvailability = { ok: true; browser: string | null } | { ok: false; why: string };

/**
 * Whether a browser can be opened from here: stdout must be a terminal (a script or a pipe gets the link
 * instead), and on Linux and the BSDs a display ($DISPLAY, $WAYLAND_DISPLAY) or a $BROWSER must be set, as
 * over ssh there is none. `browser` is the program $BROWSER names (its first entry), if any.
 */
export function browserAvailability(
  env: NodeJS.ProcessEnv,
  platform: NodeJS.Platform,
  stdoutIsTty: boolean,
): BrowserAvailability {
  const browser = env.BROWSER?.split(':')[0]?.trim() || null;
  if (!stdoutIsTty) return { ok: false, why: 'output is not a terminal' };
  if (browser) return { ok: true, browser };
  if (platform === 'darwin' || platform === 'win32') return { ok: true, browser: null };
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return { ok: true, browser: null };
  return { ok: false, why: 'no display here ($DISPLAY and $BROWSER are not set)' };
}

/**
 * `rclaude web [TASK]`: opens the web app (at the task's page with TASK) signed in as the user this CLI
 * is signed in as, through a fresh one-time login link (works once, for 10 minutes). Without a browser to
 * open, or with --print, the link is printed; --json prints `{ url, expiresAt }`.
 */
export async function webCommand(ref: string | undefined, opts: WebOptions): Promise<number> {
  const api = apiClientFor(opts);
  const path = ref === undefined ? '/' : `/tasks/${encodeURIComponent((await api.resolveTask(ref)).id)}`;
  const link = await api.call('createLoginLink');
  const url = loginLinkUrl(api.server, link.token, path);
  if (opts.json) {
    process.stdout.write(`${safeJson({ url, expiresAt: link.expiresAt })}\n`);
    return EXIT.ok;
  }
  const until = new Date(link.expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const available = browserAvailability(process.env, process.platform, process.stdout.isTTY === true);
  if (opts.print || !available.ok) {
    process.stdout.write(`${safeText(url)}\n`);
    const why = available.ok ? '' : `${available.why}: `;
    process.stderr.write(`rclaude: ${why}open this link in a browser; it signs in once, until ${until}\n`);
    return EXIT.ok;
  }
  const { default: open } = await import('open');
  await open(url, available.browser ? { app: { name: available.browser } } : {});
  process.stderr.write(
    `rclaude: opened ${safeText(`${api.server}${path}`)} in your browser (if nothing opened: rclaude web --print)\n`,
  );
  return EXIT.ok;
}
