import { escapeControlChars, shellCommand } from '@rclaude/client/rest';

/**
 * What the CLI prints of strings it does not control. Task names, status reasons, event texts, file names,
 * diff paths, branches and error messages come from a sandbox or another user: printed raw, a string could
 * drive the terminal (`\x1b]52;...` writes the clipboard, `\x1b[2J` clears the screen, `\r` overwrites
 * what came before). Every command prints them through these. The byte stream of `attach`, `run` and
 * `logs` is the exception: it is the program's own terminal, shown as a terminal would.
 */

/** One line of text, every control character shown as a visible escape (`\x1b`, `\n`). */
export function safeText(text: string): string {
  return escapeControlChars(text);
}

/** A multi-line text: like {@link safeText}, but line breaks and tabs stay. */
export function safeLines(text: string): string {
  return escapeControlChars(text, { multiline: true });
}

/**
 * JSON for `--json`: JSON.stringify escapes C0 controls already; this also writes DEL, the C1 controls and
 * the bidi controls as `\u` escapes, which leaves the same JSON value but nothing a terminal would act on.
 */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A command for the person to run, each argument shell-quoted: `rclaude attach 'x; rm -rf ~'`. */
export function suggestCommand(...args: string[]): string {
  return shellCommand(args);
}
