/**
 * Baselines: the same programs in a node-pty owned by this process, read straight from the master side,
 * with no agent, proxy or socket in between.
 */
import pty from 'node-pty';

const ENV = { PATH: '/usr/local/bin:/usr/bin:/bin', TERM: 'xterm-256color', LANG: 'C.UTF-8', HOME: '/tmp' };

/** Runs `script` under `sh -c` in a PTY; bytes and time from the first byte to the process exit. */
export function directFlood(script) {
  return new Promise((resolve) => {
    const p = pty.spawn('/bin/sh', ['-c', script], { cols: 80, rows: 24, env: ENV, encoding: null });
    let bytes = 0;
    let first = 0;
    let last = 0;
    p.onData((d) => {
      const now = performance.now();
      if (!first) first = now;
      last = now;
      bytes += d.length;
    });
    p.onExit(() => resolve({ bytes, ms: last - first }));
  });
}

/** A local PTY running `command`; `key()` writes one byte and resolves with the echo's round trip in ms. */
export async function directEchoer(command) {
  const p = pty.spawn(command[0], command.slice(1), { cols: 80, rows: 24, env: ENV, encoding: null });
  let received = 0;
  let waiter = null;
  p.onData((d) => {
    received += d.length;
    if (waiter && received >= waiter.count) {
      const w = waiter;
      waiter = null;
      w.resolve(performance.now());
    }
  });
  // Let the program set the terminal up (stty) before the first key.
  await new Promise((r) => setTimeout(r, 300));
  received = 0;
  return {
    key(ch) {
      const count = received + 1;
      const t0 = performance.now();
      const done = new Promise((resolve) => {
        waiter = { count, resolve };
      });
      p.write(ch);
      return done.then((t1) => t1 - t0);
    },
    close() {
      p.kill('SIGKILL');
    },
  };
}
