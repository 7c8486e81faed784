import type { createInterface } from 'node:readline/promises';

/**
 * Asks for a password or secret on stderr without echoing it: shows the prompt, then swallows what readline
 * would echo of the typed value. `signal` aborts the question (Ctrl-C arrives as a keypress in raw mode).
 */
export async function askHidden(
  rl: ReturnType<typeof createInterface>,
  prompt: string,
  signal?: AbortSignal,
): Promise<string> {
  const output = process.stderr;
  const write = output.write.bind(output);
  output.write(prompt);
  (output as unknown as { write: (s: string) => boolean }).write = () => true;
  try {
    return await rl.question('', signal ? { signal } : {});
  } finally {
    (output as unknown as { write: typeof write }).write = write;
    output.write('\n');
  }
}
