import { quote } from 'shell-quote';

/**
 * Characters a terminal acts on instead of showing: C0 controls (ESC starts every escape sequence, incl. OSC 52
 * which writes the clipboard; CR and BS overwrite what was printed), DEL, C1 controls (U+0080-U+009F, which
 * some terminals take as CSI, OSC, ... on their own), and the bidirectional overrides and isolates, which
 * reorder what a line shows ("Trojan Source"). `\n` and `\t` are kept only where a multi-line text is shown.
 */
const UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function visible(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * A string from a sandbox or another user (a task name, a status reason, an event's text, a file name, a
 * branch) made safe to print to a terminal: every control character becomes a visible escape (`\x1b`,
 * `\r`, `\u202e`), so printing it can neither run an escape sequence (colours, cursor moves, OSC 52
 * clipboard writes, window titles) nor hide or reorder what is shown. Everything else is unchanged.
 * With `multiline`, `\n` and `\t` stay, for texts shown over several lines.
 */
export function escapeControlChars(text: string, options: { multiline?: boolean } = {}): string {
  return text.replace(options.multiline ? UNSAFE_TEXT : UNSAFE_LINE, visible);
}

/**
 * A command line for a person to copy into a POSIX shell, each argument quoted as needed (`rclaude cp
 * 'abc:/tmp/a b; rm -rf ~' .`), with control characters made visible as by {@link escapeControlChars}: a
 * suggested command never runs more than it says, nor shows less.
 */
export function shellCommand(args: readonly string[]): string {
  return escapeControlChars(args.map((arg) => (PLAIN_WORD.test(arg) ? arg : quote([arg]))).join(' '));
}

/** Words no POSIX shell reads specially in argument position (Python's `shlex.quote` leaves the same alone). */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;
