/**
 * Keystroke echo: the client writes one byte and waits for its echo, through the chain and through a local
 * PTY, in alternating blocks so both see the same machine. The program is `cat` in a raw-mode terminal, so
 * the echo is a user process reading and writing (like a full-screen TUI), not the kernel's line discipline.
 */
import { directEchoer } from '../lib/direct.mjs';
import { p50, p99, sleep, until } from '../lib/stats.mjs';

export const ECHO_COMMAND = ['sh', '-c', 'stty raw -echo; exec cat'];
const KEYS = 'abcdefghijklmnopqrstuvwxyz';

export async function echo(ctx) {
  const { api, viewer, opts } = ctx;
  const task = await api.createTask({ command: ECHO_COMMAND, name: 'bench echo' });
  const att = await viewer.attach(task.mainSessionId, { from: 0 });
  await api.waitRunning(task.id);
  await sleep(300);
  const chain = {
    key: async (ch) => {
      const count = att.received + 1;
      const t0 = performance.now();
      viewer.input(task.mainSessionId, ch);
      return (await att.receivedAtLeast(count)) - t0;
    },
  };
  const direct = await directEchoer(ECHO_COMMAND);
  const chainMs = [];
  const directMs = [];
  const blocks = 4;
  const perBlock = Math.ceil(opts.echoKeys / blocks);
  // Warm both paths (JIT, socket buffers) before counting.
  for (let i = 0; i < 50; i++) {
    await chain.key('w');
    await direct.key('w');
  }
  for (let b = 0; b < blocks; b++) {
    for (let i = 0; i < perBlock; i++) directMs.push(await direct.key(KEYS[i % KEYS.length]));
    for (let i = 0; i < perBlock; i++) chainMs.push(await chain.key(KEYS[i % KEYS.length]));
  }
  direct.close();
  await api.stopTask(task.id);
  await until('the echo task to stop', async () => (await api.getTask(task.id)).status === 'stopped', 10_000);
  return {
    echo_keys: chainMs.length,
    echo_p50_ms: p50(chainMs),
    echo_p99_ms: p99(chainMs),
    direct_echo_p50_ms: p50(directMs),
    direct_echo_p99_ms: p99(directMs),
    echo_overhead_p50_ms: p50(chainMs) - p50(directMs),
    echo_overhead_p99_ms: p99(chainMs) - p99(directMs),
  };
}
