/**
 * Reattach: a session has produced ~50 MB of output (random base64, no viewer attached meanwhile); a new
 * client connects and attaches with `from: 'screen'`, like `rclaude attach`. Timed from opening the
 * connection to holding the current screen (the serialized terminal, which ends with the last line printed).
 */
import { Viewer } from '../lib/client.mjs';
import { p50, sleep, until } from '../lib/stats.mjs';

export async function reattach(ctx) {
  const { api, server, opts } = ctx;
  // base64 of R random bytes: 4R/3 characters in lines of 76, each ending in CR LF on a terminal.
  const rawBytes = Math.round((opts.historyMB * 1e6 * 3) / 4 / (78 / 76));
  const task = await api.createTask({
    command: ['sh', '-c', `head -c ${rawBytes} /dev/urandom | base64; echo HISTORY-DONE; exec cat`],
    name: 'bench reattach',
  });
  await api.waitRunning(task.id);
  const session = await until(
    'the history to be written',
    async () => {
      const s = await api.getSession(task.mainSessionId);
      return s.outputEnd >= opts.historyMB * 1e6 * 0.99 ? s : null;
    },
    300_000,
    200,
  );
  await sleep(500);
  const times = [];
  let screenBytes = 0;
  for (let i = 0; i < opts.reattachRounds; i++) {
    const t0 = performance.now();
    const viewer = new Viewer(server.url, server.token);
    await viewer.connected();
    const att = await viewer.attach(task.mainSessionId, { from: 'screen' });
    const t1 = performance.now();
    const screen = att.result.screen?.data ?? '';
    if (!screen.includes('HISTORY-DONE')) throw new Error('the reattach screen does not show the last line');
    screenBytes = Buffer.byteLength(screen);
    times.push(t1 - t0);
    viewer.close();
    await sleep(100);
  }
  await api.stopTask(task.id);
  return { reattach_ms: p50(times), reattach_history_bytes: session.outputEnd, reattach_screen_bytes: screenBytes };
}
