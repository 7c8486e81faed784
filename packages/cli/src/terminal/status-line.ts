import { safeText } from '../output.js';

/**
 * One line of status on stderr (progress while a sandbox starts, "reconnecting…"), drawn in place and
 * erased before program output continues. Silent when stderr is not a terminal, except for notes. Texts
 * often carry strings from the sandbox or the server (a reason, a question): their control characters are
 * shown as escapes, never sent to the terminal.
 */
export class StatusLine {
  private shown = false;
  private timer: NodeJS.Timeout | undefined;
  private started = 0;
  private text = '';
  private frame = 0;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty: boolean,
  ) {}

  /** A spinner with elapsed time, for long waits. */
  progress(text: string): void {
    if (!this.tty) return;
    if (!this.timer) {
      this.started = performance.now();
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
    }
    this.text = safeText(text);
    this.draw();
  }

  show(text: string): void {
    this.stop();
    if (!this.tty) return;
    this.out.write(`\r\x1b[2K\x1b[2m${safeText(text)}\x1b[0m`);
    this.shown = true;
  }

  /** A line that stays (hints, refused input). */
  note(text: string): void {
    this.clear();
    const line = safeText(text);
    this.out.write(this.tty ? `\x1b[2m${line}\x1b[0m\r\n` : `${line}\n`);
  }

  clear(): void {
    this.stop();
    if (this.shown) this.out.write('\r\x1b[2K');
    this.shown = false;
  }

  private draw(): void {
    const spinner = '⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏'[this.frame++ % 10];
    const secs = ((performance.now() - this.started) / 1000).toFixed(1);
    this.out.write(`\r\x1b[2K\x1b[2m${spinner} ${this.text}… ${secs}s\x1b[0m`);
    this.shown = true;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
