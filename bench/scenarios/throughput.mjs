/**
 * throughput_ratio: a flood (`head -c N /dev/zero | base64`) through PTY -> agent -> proxy -> client, over
 * the same flood read straight from a node-pty in this process. Rounds alternate direct and chain; each side
 * keeps its best round (the machine is shared, so the best round is the one least disturbed by others).
 */
import { directFlood } from '../lib/direct.mjs';
import { until } from '../lib/stats.mjs';

export async function throughput(ctx) {
  const { api, viewer, opts } = ctx;
  const script = `head -c ${opts.floodMiB}M /dev/zero | base64`;
  const direct = [];
  const chain = [];
  for (let round = 0; round < opts.floodRounds; round++) {
    direct.push(await directFlood(script));
    chain.push(await chainFlood(api, viewer, script));
    ctx.log(
      `  flood round ${round + 1}: direct ${mbps(direct.at(-1)).toFixed(1)} MB/s, chain ${mbps(chain.at(-1)).toFixed(1)} MB/s`,
    );
  }
  const bestDirect = Math.max(...direct.map(mbps));
  const bestChain = Math.max(...chain.map(mbps));
  return {
    throughput_ratio: bestChain / bestDirect,
    throughput_direct_mb_s: bestDirect,
    throughput_chain_mb_s: bestChain,
    flood_bytes: chain[0].bytes,
  };
}

function mbps(r) {
  return r.bytes / 1e6 / (r.ms / 1000);
}

async function chainFlood(api, viewer, script) {
  const task = await api.createTask({ command: ['sh', '-c', script], name: 'bench flood' });
  const att = await viewer.attach(task.mainSessionId, { from: 0 });
  const exit = await until('the flood to end', () => att.exit, 600_000, 20);
  await att.receivedAtLeast(exit.endOffset);
  if (att.gaps) throw new Error(`the flood viewer saw ${att.gaps} gaps`);
  return { bytes: att.received, ms: att.lastAt - att.firstAt };
}
