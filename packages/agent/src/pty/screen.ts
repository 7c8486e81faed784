import type { ScreenSnapshot } from '@rclaude/protocol';
import { SerializeAddon } from '@xterm/addon-serialize';
import xtermHeadless from '@xterm/headless';

const { Terminal } = xtermHeadless;

/**
 * A headless terminal fed with a session's output so a (re)attaching client gets the current screen instead
 * of the whole history. Lives in the agent, next to the PTY, so it survives proxy restarts and any proxy can
 * ask for it.
 */
export class ScreenMirror {
  private readonly term: InstanceType<typeof Terminal>;
  private readonly serializer = new SerializeAddon();
  /** Bytes handed to the terminal so far (its parse queue may lag behind). */
  private written = 0;

  constructor(
    cols: number,
    rows: number,
    private readonly scrollback = 1000,
  ) {
    this.term = new Terminal({ cols, rows, scrollback, allowProposedApi: true });
    this.term.loadAddon(this.serializer);
  }

  /** `onParsed` runs once this chunk (and everything before it) is parsed. */
  write(data: Uint8Array, onParsed?: () => void): void {
    this.written += data.byteLength;
    this.term.write(data, onParsed);
  }

  resize(cols: number, rows: number): void {
    this.term.resize(cols, rows);
  }

  /** Resolves once everything written so far is parsed, with the screen at exactly that offset. */
  snapshot(baseOffset: number): Promise<ScreenSnapshot> {
    const offset = baseOffset + this.written;
    return new Promise((resolve) => {
      // Write callbacks run in order, right after their chunk is parsed, so the state here is exactly `offset`.
      this.term.write('', () => {
        resolve({
          data: this.serializer.serialize({ scrollback: this.scrollback }),
          offset,
          cols: this.term.cols,
          rows: this.term.rows,
        });
      });
    });
  }

  dispose(): void {
    this.term.dispose();
  }
}
