/**
 * What people use: the real `rclaude` CLI (the bin `npm install` links at node_modules/.bin/rclaude) in a
 * terminal, as a person types into it, beside OpenSSH on loopback in the same run. Both run in a node-pty
 * owned by the bench and are read from its master side, so the terminal is the same for both; the CLI runs
 * with a fresh HOME and the server's URL and token in its environment (as the tests run it), the ssh client
 * with its own HOME, `-F /dev/null` and a throw-away key for an sshd the bench starts (lib/sshd.mjs).
 *
 * Figures: keystroke echo (p50, p99), throughput, `rclaude run -- true` against `ssh host true`,
 * `rclaude ls --json` (time and peak RSS), and the embedded server's first start and idle memory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isTerminal } from '@rclaude/protocol';
import { rclaudeBin } from '@rclaude/testkit';
import { Api, rssKiB } from '../lib/client.mjs';
import { startSshd } from '../lib/sshd.mjs';
import { loadNote, p50, p99, scaledMs, sleep, until } from '../lib/stats.mjs';
import { peakKiB, Terminal } from '../lib/terminal.mjs';
import { waitPoolFull } from './tti.mjs';

/** Echo from user space (like a full-screen TUI); READY says the terminal is raw and cat is reading. */
const ECHO_SCRIPT = 'stty raw -echo; printf READY; exec cat';
const KEYS = 'abcdefghijklmnopqrstuvwxyz';
/** One key's echo may take this long on a quiet machine before the run is called broken (scaled with the load). */
const KEY_TIMEOUT_MS = 5000;
const TIME = '/usr/bin/time';

export async function cli(ctx) {
  const { opts, log } = ctx;
  const figures = {};
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-bench-home-'));
  ctx.onCleanup(() => fs.rmSync(home, { recursive: true, force: true }));

  const sshd = await startSshd({ log });
  if (sshd.missing) {
    log(`  no ssh baseline: ${sshd.missing}; the ssh_* figures are left out`);
  } else {
    ctx.onCleanup(
      () => sshd.stop(),
      () => sshd.stopSync(),
    );
    figures.ssh_version = sshd.version;
  }
  const ssh = sshd.missing ? null : sshd;

  // First start: `rclaude server` on an empty data dir, from spawn to its ready line.
  const t0 = performance.now();
  const server = await step('first start of rclaude server on an empty data dir', () =>
    ctx.startServer({ RCLAUDE_WARM_POOL_SIZE: '0' }),
  );
  figures.first_start_ms = performance.now() - t0;
  await sleep(opts.idleSettleMs);
  figures.proxy_rss_idle_mib = (await rssKiB(server.process.pid)) / 1024;
  log(
    `  first start ${figures.first_start_ms.toFixed(0)} ms; idle RSS ${figures.proxy_rss_idle_mib.toFixed(1)} MiB after ${opts.idleSettleMs / 1000} s`,
  );

  const api = new Api(server.url, server.token);
  const cliEnv = (s) => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    TERM: 'xterm-256color',
    LANG: 'C.UTF-8',
    ...s.cliEnv(),
  });
  const rclaude = (s, args) => new Terminal(rclaudeBin(), args, { env: cliEnv(s) });
  const sshTerm = (command, tty) => new Terminal(ssh.ssh, ssh.args(command, { tty }), { env: ssh.env });

  // `rclaude --version`: the CLI's own start (Node, its modules), the floor under every command below; and
  // Node's own start under it, on the same machine at the same time.
  await step('node -e 0 and rclaude --version', async () => {
    figures.node_start_ms = p50(
      await timedRuns(opts.cliRounds, () => new Terminal(process.execPath, ['-e', '0'], { env: cliEnv(server) })),
    );
    figures.cli_start_ms = p50(await timedRuns(opts.cliRounds, () => rclaude(server, ['--version'])));
  });

  log(`  echo (${opts.echoKeys} keys each, CLI and ssh, alternating blocks)...`);
  Object.assign(
    figures,
    await step('keystroke echo', () =>
      echo({
        opts,
        cliOpen: () => rclaude(server, ['run', '--name', 'bench cli echo', '--', 'sh', '-c', ECHO_SCRIPT]),
        sshOpen: ssh && (() => sshTerm(ECHO_SCRIPT, true)),
      }),
    ),
  );
  log(
    `    echo p50/p99: CLI ${figures.cli_echo_p50_ms.toFixed(2)}/${figures.cli_echo_p99_ms.toFixed(2)} ms${ssh ? `, ssh ${figures.ssh_echo_p50_ms.toFixed(2)}/${figures.ssh_echo_p99_ms.toFixed(2)} ms` : ''}`,
  );
  await step('stopping the echo task', () => stopRunning(api));

  log(`  throughput (head -c ${opts.cliFloodMiB}M /dev/zero | base64, ${opts.floodRounds} rounds each)...`);
  const flood = `head -c ${opts.cliFloodMiB}M /dev/zero | base64`;
  const cliMbps = [];
  const sshMbps = [];
  for (let round = 0; round < opts.floodRounds; round++) {
    await step(`throughput round ${round + 1}`, async () => {
      if (ssh) sshMbps.push(await floodThrough(sshTerm(flood, true)));
      cliMbps.push(await floodThrough(rclaude(server, ['run', '--name', 'bench cli flood', '--', 'sh', '-c', flood])));
    });
    log(
      `    round ${round + 1}: CLI ${cliMbps.at(-1).toFixed(1)} MB/s${ssh ? `, ssh ${sshMbps.at(-1).toFixed(1)} MB/s` : ''}`,
    );
  }
  figures.cli_throughput_mb_s = Math.max(...cliMbps);
  if (ssh) figures.ssh_throughput_mb_s = Math.max(...sshMbps);

  log(`  rclaude run -- true (no warm pool) and ssh host true, ${opts.cliRounds} each...`);
  const runTrue = [];
  const sshTrue = [];
  for (let i = 0; i < opts.cliRounds; i++) {
    await step(`run -- true without a pool, round ${i + 1}`, async () => {
      if (ssh) sshTrue.push(...(await timedRuns(1, () => sshTerm('true', false))));
      runTrue.push(...(await timedRuns(1, () => rclaude(server, ['run', '--', 'true']))));
    });
    await sleep(200);
  }
  figures.cli_run_true_ms = p50(runTrue);
  if (ssh) figures.ssh_true_ms = p50(sshTrue);
  log(
    `    run -- true ${figures.cli_run_true_ms.toFixed(0)} ms${ssh ? `, ssh true ${figures.ssh_true_ms.toFixed(0)} ms` : ''}`,
  );

  figures.cli_ls_tasks = (await api.listTasks({ limit: 500 })).length;
  log(`  rclaude ls --json (${figures.cli_ls_tasks} tasks), ${opts.cliRounds} runs, then peak RSS...`);
  const peaks = [];
  await step('rclaude ls --json', async () => {
    figures.cli_ls_ms = p50(await timedRuns(opts.cliRounds, () => rclaude(server, ['ls', '--json'])));
    for (let i = 0; i < opts.cliRounds; i++) peaks.push(await peakRss(rclaudeBin(), ['ls', '--json'], cliEnv(server)));
  });
  figures.cli_ls_peak_mib = Math.max(...peaks.map((p) => p.kib)) / 1024;
  figures.cli_ls_peak_from = peaks[0].how;
  log(
    `    ls --json ${figures.cli_ls_ms.toFixed(0)} ms, peak ${figures.cli_ls_peak_mib.toFixed(1)} MiB; --version ${figures.cli_start_ms.toFixed(0)} ms, node -e 0 ${figures.node_start_ms.toFixed(0)} ms`,
  );

  await ctx.stopServer(server);

  log(`  rclaude run -- true against a warm pool of ${opts.poolSize}, ${opts.cliRounds} runs...`);
  const warm = await step('starting the server with a warm pool', () =>
    ctx.startServer({ RCLAUDE_WARM_POOL_SIZE: String(opts.poolSize) }),
  );
  const warmTrue = [];
  for (let i = 0; i < opts.cliRounds; i++) {
    await step(`run -- true against the warm pool, round ${i + 1} of ${opts.cliRounds}`, async () => {
      await waitPoolFull(warm, opts.poolSize);
      warmTrue.push(...(await timedRuns(1, () => rclaude(warm, ['run', '--', 'true']))));
    });
  }
  figures.cli_run_true_warm_ms = p50(warmTrue);
  await ctx.stopServer(warm);
  return figures;
}

/**
 * Keystroke echo: one byte written to the terminal, timed until it comes back, after warm-up, in blocks
 * alternating between ssh and the CLI so both see the same machine. Bounded by a count and a time limit.
 */
async function echo({ opts, cliOpen, sshOpen }) {
  const cli = cliOpen();
  const ssh = sshOpen?.() ?? null;
  try {
    // Until the remote program puts its terminal in raw mode, the terminal echoes by itself: wait for it.
    await cli.waitFor('READY', scaledMs(90_000));
    if (ssh) await ssh.waitFor('READY', scaledMs(20_000));
    const budgetMs = scaledMs(opts.echoBudgetMs);
    const deadline = Date.now() + budgetMs;
    const keyTimeoutMs = scaledMs(KEY_TIMEOUT_MS);
    for (let i = 0; i < 50; i++) {
      await cli.key('w', keyTimeoutMs);
      if (ssh) await ssh.key('w', keyTimeoutMs);
    }
    const cliMs = [];
    const sshMs = [];
    const blocks = 4;
    const perBlock = Math.ceil(opts.echoKeys / blocks);
    for (let b = 0; b < blocks && Date.now() < deadline; b++) {
      for (let i = 0; ssh && i < perBlock && Date.now() < deadline; i++) {
        sshMs.push(await ssh.key(KEYS[i % KEYS.length], keyTimeoutMs));
      }
      for (let i = 0; i < perBlock && Date.now() < deadline; i++) {
        cliMs.push(await cli.key(KEYS[i % KEYS.length], keyTimeoutMs));
      }
    }
    if (cliMs.length < opts.echoKeys) {
      throw new Error(`only ${cliMs.length} of ${opts.echoKeys} keys within ${budgetMs / 1000} s (${loadNote()})`);
    }
    return {
      cli_echo_keys: cliMs.length,
      cli_echo_p50_ms: p50(cliMs),
      cli_echo_p99_ms: p99(cliMs),
      ...(ssh ? { ssh_echo_p50_ms: p50(sshMs), ssh_echo_p99_ms: p99(sshMs) } : {}),
    };
  } finally {
    cli.kill();
    ssh?.kill();
    await Promise.all([cli.exited, ssh?.exited]);
  }
}

/** MB/s of a flood read from the terminal: bytes from the first chunk of the payload to the last byte. */
async function floodThrough(term) {
  let first = 0;
  let last = 0;
  let bytes = 0;
  term.onData = (chunk, at) => {
    // Before the payload the CLI may draw its status line (starting sandbox ...): not part of the flood.
    if (!first && !chunk.includes('AAAA')) return;
    if (!first) first = at;
    last = at;
    bytes += chunk.length;
  };
  const exit = await term.waitExit(scaledMs(300_000));
  if (exit.exitCode !== 0 || !first) {
    throw new Error(`${term.describe()} exited ${exit.exitCode} after ${bytes} bytes; output:\n${term.printable()}`);
  }
  return bytes / 1e6 / ((last - first) / 1000);
}

/** Runs `open()` `rounds` times, one after the other; each must exit 0; ms from spawn to exit. */
async function timedRuns(rounds, open) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const term = open();
    const exit = await term.waitExit(scaledMs(120_000));
    if (exit.exitCode !== 0)
      throw new Error(`${term.describe()} exited ${exit.exitCode}; output:\n${term.printable()}`);
    times.push(term.exitedAt - term.startedAt);
  }
  return times;
}

/**
 * Peak RSS of a program in KiB and how it was read: GNU time's maximum resident set size (the kernel's
 * figure at exit) where /usr/bin/time exists, else the process's VmHWM polled every 2 ms until it exits.
 * Runs in a terminal like the rest; the program must exit 0 within two minutes (scaled with the load).
 */
export async function peakRss(file, args, env, { useTime = fs.existsSync(TIME) } = {}) {
  if (useTime) {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rclaude-bench-time-')), 'rss');
    try {
      const term = new Terminal(TIME, ['-f', '%M', '-o', out, file, ...args], { env });
      const exit = await term.waitExit(scaledMs(120_000));
      if (exit.exitCode !== 0) throw new Error(`${term.describe()} exited ${exit.exitCode}:\n${term.printable()}`);
      return { kib: Number(fs.readFileSync(out, 'utf8').trim().split('\n').at(-1)), how: `${TIME} -f %M` };
    } finally {
      fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
  }
  const term = new Terminal(file, args, { env });
  let kib = 0;
  const limitMs = scaledMs(120_000);
  const deadline = Date.now() + limitMs;
  while (!term.exit) {
    if (Date.now() > deadline) {
      term.kill();
      throw new Error(`${term.describe()} did not exit within ${limitMs / 1000} s`);
    }
    const v = peakKiB(term.pid);
    if (Number.isFinite(v)) kib = Math.max(kib, v);
    await sleep(2);
  }
  if (term.exit.exitCode !== 0)
    throw new Error(`${term.describe()} exited ${term.exit.exitCode}:\n${term.printable()}`);
  return { kib, how: 'VmHWM polled every 2 ms' };
}

/** Stops every task still running on a server (the CLI was killed, its task goes on) and waits. */
async function stopRunning(api) {
  const live = (await api.listTasks({ limit: 500 })).filter((t) => !isTerminal(t.status));
  for (const t of live) await api.stopTask(t.id).catch(() => undefined);
  await until(
    'the bench tasks to stop',
    async () => (await api.listTasks({ limit: 500 })).every((t) => isTerminal(t.status)),
    scaledMs(20_000),
    100,
  );
}

/** Runs one step of the scenario; a failure names the step and the machine's load, so a broken run says where. */
async function step(name, fn) {
  try {
    return await fn();
  } catch (err) {
    throw new Error(`cli scenario, ${name} (${loadNote()}): ${err.message}`, { cause: err });
  }
}
