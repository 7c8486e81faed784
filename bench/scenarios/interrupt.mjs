/**
 * Ctrl-C during a flood: `yes` in an interactive bash floods the viewer; the client types Ctrl-C and waits
 * for the shell's prompt. The time covers everything already in flight (bounded by flow control) plus the
 * prompt's trip back.
 */
import { p50, sleep, until } from '../lib/stats.mjs';

/** What bash prints as its prompt once PS1 is set below (the typed line shows `$((6*7))`, not 42). */
const PROMPT = 'BENCH_42>';

export async function interrupt(ctx) {
  const { api, viewer, opts } = ctx;
  const task = await api.createTask({ command: ['bash', '--norc', '--noprofile', '-i'], name: 'bench interrupt' });
  let tail = '';
  let watching = false;
  let seenPrompt = null;
  const att = await viewer.attach(task.mainSessionId, {
    from: 0,
    onData: (data, at) => {
      if (!watching) return;
      tail = (tail + Buffer.from(data).toString('latin1')).slice(-256);
      if (tail.includes(PROMPT)) {
        seenPrompt = at;
        watching = false;
      }
    },
  });
  await api.waitRunning(task.id);
  await until('the first prompt', () => att.received > 0, 10_000);
  // Typed rather than passed as task env, which the Redis session store does not keep.
  watching = true;
  viewer.input(task.mainSessionId, "PS1='BENCH_$((6*7))> '\r");
  await until('the bench prompt', () => seenPrompt, 10_000);
  const times = [];
  for (let i = 0; i < opts.interruptRounds; i++) {
    viewer.input(task.mainSessionId, 'yes\r');
    // Let the flood fill every buffer on the way (flow control pauses the PTY) before interrupting.
    const floodFrom = att.received;
    await att.receivedAtLeast(floodFrom + 4 * 1024 * 1024);
    tail = '';
    seenPrompt = null;
    watching = true;
    const t0 = performance.now();
    viewer.input(task.mainSessionId, '\x03');
    await until('the prompt after Ctrl-C', () => seenPrompt, 30_000, 1);
    times.push(seenPrompt - t0);
    await sleep(100);
  }
  await api.stopTask(task.id);
  return { interrupt_p50_ms: p50(times), interrupt_max_ms: Math.max(...times) };
}
