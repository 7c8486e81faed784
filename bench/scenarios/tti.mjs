/**
 * Time to interactive: from the create request (as `rclaude run` sends it) to the first byte of the remote
 * PTY, on the local provider. The client's Socket.io connection is already open (the web app always has
 * one; `rclaude run` could open it while the request is in flight), so the figure is the server's work:
 * record the task, get a sandbox (start one, or claim a pooled one), open the PTY, relay its first byte.
 */
import { p50, scaledMs, sleep, until } from '../lib/stats.mjs';

export async function tti(ctx, { rounds, beforeEach }) {
  const { api, viewer } = ctx;
  const times = [];
  for (let i = 0; i < rounds; i++) {
    await beforeEach?.();
    const t0 = performance.now();
    const task = await api.createTask({ command: ['sh', '-c', 'printf R; exec sleep 600'], name: 'bench tti' });
    const att = await viewer.attach(task.mainSessionId, { from: 0 });
    const t1 = await att.receivedAtLeast(1);
    times.push(t1 - t0);
    await api.stopTask(task.id);
    await sleep(200);
  }
  return { p50: p50(times), all: times };
}

/**
 * Reads a gauge from a server's /metrics (the warm pool reports how many sandboxes wait ready); NaN when the
 * request fails (a kept-alive socket the server closed just then), so a poll asks again.
 */
export async function gauge(server, name) {
  let text;
  try {
    text = await server.metrics();
  } catch {
    return Number.NaN;
  }
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * Waits until `server` (a testkit RclaudeServer: its metrics are read with its token) holds `size` ready sandboxes: 60 s on a quiet machine, scaled with the load
 * (each sandbox is a bwrap process and an agent that must start and dial in). The error says how many were ready.
 */
export async function waitPoolFull(server, size, timeoutMs = scaledMs(60_000)) {
  let ready = 0;
  try {
    await until(
      `the warm pool to fill`,
      async () => {
        ready = await gauge(server, 'rclaude_warm_pool_ready');
        return ready >= size;
      },
      timeoutMs,
      50,
    );
  } catch (err) {
    const state = Number.isNaN(ready)
      ? `the gauge rclaude_warm_pool_ready could not be read from ${server.url}/metrics`
      : `${ready} of ${size} sandboxes ready (the server's log says why a start failed)`;
    throw new Error(`${err.message}: ${state}`);
  }
}
