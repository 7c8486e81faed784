/**
 * resume_ms: from the resume request of a stopped task to the first byte of its program in the new sandbox,
 * on the local provider with no warm pool: a sandbox starts, its agent restores the checkpoint the stop took
 * (a workspace of `resumeFiles` small files), the program starts and its first byte reaches an attached
 * viewer. The program prints at once, so the figure is rclaude's work, not the program's.
 */
import { p50, sleep, until } from '../lib/stats.mjs';

export async function resume(ctx) {
  const { api, viewer, opts } = ctx;
  const files = opts.resumeFiles;
  // First run: make the workspace. A resumed run finds it restored and goes straight to its first byte.
  const script = `[ -d src ] || { mkdir src; i=0; while [ $i -lt ${files} ]; do echo "line $i of a source file" > src/f$i.txt; i=$((i+1)); done; }; printf R; exec sleep 600`;
  const task = await api.createTask({ command: ['sh', '-c', script], name: 'bench resume' });
  const first = await viewer.attach(task.mainSessionId, { from: 0 });
  await first.receivedAtLeast(1);
  const times = [];
  let restored = 0;
  for (let i = 0; i < opts.resumeRounds; i++) {
    await api.stopTask(task.id);
    const { outputEnd } = await api.getSession(task.mainSessionId);
    const t0 = performance.now();
    await api.resumeTask(task.id, {});
    const att = await viewer.attach(task.mainSessionId, { from: outputEnd });
    const t1 = await Promise.race([
      att.receivedAtLeast(1),
      sleep(20_000).then(async () => {
        const t = await api.getTask(task.id);
        throw new Error(`no output 20 s after the resume: the task is ${t.status} (${t.statusReason})`);
      }),
    ]);
    times.push(t1 - t0);
    const events = await api.listTaskEvents(task.id);
    const restore = events.filter((e) => e.type === 'restore').at(-1);
    restored = restore?.data.files ?? 0;
    if (restored < files) throw new Error(`the resume restored ${restored} files, not the ${files} written`);
    await until('the resumed task to settle', async () => (await api.getTask(task.id)).status === 'running', 30_000);
    await sleep(200);
  }
  await api.stopTask(task.id);
  return { resume_p50_ms: p50(times), resume_files: restored };
}
