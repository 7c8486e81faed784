/**
 * The benchmark's client side: the shared REST client, and Socket.io viewers that behave like
 * `rclaude attach` (binary `pty:output`, an offset assembler, `pty:ack` once a frame is consumed). The CLI
 * itself would add a process start and a terminal write per frame, which is noise for these figures; the
 * viewer here acks as soon as a frame is counted, i.e. a terminal that always keeps up.
 */
import { ApiClient } from '@rclaude/client';
import { OffsetAssembler } from '@rclaude/protocol';
import { io } from 'socket.io-client';
import { until } from './stats.mjs';

/** The REST client every rclaude client shares (`@rclaude/client`), plus waiting for a task to run. */
export class Api extends ApiClient {
  constructor(url, token) {
    super({ baseUrl: url, token });
  }

  async waitRunning(taskId, timeoutMs = 60_000) {
    return until(
      `task ${taskId} to run`,
      async () => {
        const task = await this.getTask(taskId);
        if (['failed', 'stopped', 'succeeded'].includes(task.status)) {
          throw new Error(`task ${taskId} ended: ${task.status} (${task.statusReason})`);
        }
        return task.status === 'running' ? task : null;
      },
      timeoutMs,
      50,
    );
  }
}

/** One Socket.io connection to `/client`, serving any number of attached sessions. */
export class Viewer {
  constructor(url, token) {
    this.socket = io(`${url}/client`, { transports: ['websocket'], auth: { token }, reconnection: false });
    /** @type {Map<string, Attachment>} */
    this.attachments = new Map();
    this.socket.on('pty:output', (sessionId, offset, data) => {
      this.attachments.get(sessionId)?.onOutput(offset, data);
    });
    this.socket.on('pty:exit', (info) => {
      const a = this.attachments.get(info.sessionId);
      if (a) a.exit = info;
    });
  }

  connected() {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('connect_error', reject);
    });
  }

  /**
   * Attaches to a session. `from`: an offset, or 'screen'. `ack: false` makes a viewer that never
   * acknowledges (a stuck terminal), to watch flow control hold it to its window.
   */
  attach(sessionId, { from = 0, ack = true, onData = null, cols = 80, rows = 24 } = {}) {
    return new Promise((resolve, reject) => {
      this.socket.emit('session:attach', { sessionId, from, cols, rows }, (res) => {
        if (!res.ok) return reject(new Error(`attach ${sessionId}: ${res.error.code} ${res.error.message}`));
        const a = new Attachment(this.socket, sessionId, res.data, { ack, onData });
        this.attachments.set(sessionId, a);
        resolve(a);
      });
    });
  }

  input(sessionId, data) {
    this.socket.emit('pty:input', { sessionId, data });
  }

  close() {
    this.socket.disconnect();
  }
}

export class Attachment {
  constructor(socket, sessionId, result, { ack, onData }) {
    this.socket = socket;
    this.sessionId = sessionId;
    this.result = result;
    this.assembler = new OffsetAssembler(result.from);
    this.ack = ack;
    this.onData = onData;
    this.received = 0;
    this.firstAt = 0;
    this.lastAt = 0;
    this.gaps = 0;
    this.exit = null;
    /** Resolvers waiting for `received` to reach a count. */
    this.waiters = [];
  }

  onOutput(offset, data) {
    const fresh = this.assembler.accept(offset, new Uint8Array(data));
    if (fresh === 'gap') {
      // The proxy's bounded log dropped bytes this viewer never got (the CLI would redraw from the screen):
      // whatever waits on a byte count will not see it, so it fails now rather than at the time limit.
      this.gaps++;
      for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.sessionId}: gap at ${this.assembler.next}`));
      return;
    }
    if (fresh.byteLength === 0) return;
    const now = performance.now();
    if (!this.firstAt) this.firstAt = now;
    this.lastAt = now;
    this.received += fresh.byteLength;
    this.onData?.(fresh, now);
    if (this.ack) this.socket.emit('pty:ack', { sessionId: this.sessionId, offset: this.assembler.next });
    if (this.waiters.length) {
      this.waiters = this.waiters.filter((w) => {
        if (this.received < w.count) return true;
        w.resolve(now);
        return false;
      });
    }
  }

  /** Resolves with the time the `count`-th byte arrived. */
  receivedAtLeast(count) {
    if (this.received >= count) return Promise.resolve(this.lastAt);
    return new Promise((resolve, reject) => this.waiters.push({ count, resolve, reject }));
  }

  /** Acknowledges everything received so far (for a viewer created with `ack: false`). */
  ackAll() {
    this.socket.emit('pty:ack', { sessionId: this.sessionId, offset: this.assembler.next });
  }
}

/** Memory of a process in KiB (VmRSS), or NaN when it is gone. */
export async function rssKiB(pid) {
  const { readFile } = await import('node:fs/promises');
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /VmRSS:\s+(\d+) kB/.exec(status);
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}
