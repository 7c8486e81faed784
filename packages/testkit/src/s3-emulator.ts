/**
 * An S3 emulator for tests: s3rver (a real S3 REST server over a folder) on 127.0.0.1, a free port and a temp
 * folder. The real `@aws-sdk/client-s3` talks to it with `endpoint: emulator.url`, `forcePathStyle: true`,
 * region `us-east-1` (s3rver's continuation tokens name that region) and {@link S3_EMULATOR_CREDENTIALS}.
 *
 * What s3rver does not do, tests cannot rely on: it accepts `x-amz-server-side-encryption` and ignores it,
 * does not verify `x-amz-checksum-*` headers, and stores an `aws-chunked` body's framing verbatim (a client
 * must send plain bodies: `requestChecksumCalculation: 'WHEN_REQUIRED'`).
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/** The static credentials s3rver accepts (it checks signatures against them). */
export const S3_EMULATOR_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** The region the SDK must be given for s3rver (its pagination tokens are only valid for us-east-1). */
export const S3_EMULATOR_REGION = 'us-east-1';

export interface S3EmulatorOptions {
  /** Buckets that exist from the start. */
  buckets?: string[];
}

/** A running emulator. */
export interface S3Emulator {
  /** `http://127.0.0.1:<port>`, the SDK's `endpoint`. */
  url: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The folder s3rver keeps buckets and objects in (removed by stop()). */
  directory: string;
  /** Stops the server, drops its connections and removes its folder. */
  stop(): Promise<void>;
}

/**
 * Runs in the child: starts s3rver with the settings in S3_EMULATOR_CONFIG, prints its port, and exits when
 * its stdin closes (the test process ended, however it ended).
 */
const CHILD_SCRIPT = `
const config = JSON.parse(process.env.S3_EMULATOR_CONFIG);
const S3rver = require(config.module);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: !config.verbose,
  directory: config.directory,
  configureBuckets: config.buckets.map((name) => ({ name })),
  vhostBuckets: false,
});
server.run().then(
  (address) => process.stdout.write(JSON.stringify({ port: address.port }) + '\\n'),
  (error) => { console.error(error); process.exit(1); },
);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

/**
 * Starts s3rver on 127.0.0.1, port 0, over a fresh temp folder, in a child process: s3rver encrypts its
 * ListObjectsV2 continuation tokens with DES, which Node's OpenSSL 3 only offers with
 * `--openssl-legacy-provider`, a flag that cannot be turned on inside a running test process.
 */
export async function startS3Emulator(options: S3EmulatorOptions = {}): Promise<S3Emulator> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'rclaude-s3rver-'));
  const config = {
    module: createRequire(import.meta.url).resolve('s3rver'),
    directory,
    buckets: options.buckets ?? [],
    verbose: process.env.S3RVER_DEBUG === '1',
  };
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD_SCRIPT], {
    env: { ...process.env, S3_EMULATOR_CONFIG: JSON.stringify(config) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (data: Buffer) => {
        out += data.toString();
        const line = out
          .split('\n')
          .slice(0, -1)
          .find((l) => l.startsWith('{"port":'));
        if (line) resolve((JSON.parse(line) as { port: number }).port);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`s3rver exited (${code}) before it listened`)));
    });
  } catch (error) {
    child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    region: S3_EMULATOR_REGION,
    credentials: { ...S3_EMULATOR_CREDENTIALS },
    directory,
    async stop() {
      child.stdin.end();
      child.kill('SIGTERM');
      await exited;
      await rm(directory, { recursive: true, force: true });
    },
  };
}
