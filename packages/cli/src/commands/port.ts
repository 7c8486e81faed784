import net from 'node:net';
import { portNumberSchema } from '@rclaude/protocol';
import { apiClientFor } from '../api.js';
import { CliError, EXIT } from '../errors.js';
import { safeText } from '../output.js';
import { openTunnel } from '../tunnel.js';

/**
 * `rclaude port TASK PORT [--local-port N] [--bind ADDR]`: listens on the laptop and forwards each connection
 * through its own tunnel to 127.0.0.1:PORT in the task's sandbox, until Ctrl-C.
 */
export async function portCommand(
  ref: string,
  portArg: string,
  opts: { server?: string; localPort?: string; bind?: string; json?: boolean },
): Promise<number> {
  const port = portNumberSchema.safeParse(portArg);
  if (!port.success) throw new CliError(`not a port: ${portArg}`, 1, 'give a number from 1 to 65535');
  // --local-port 0: any free port (printed).
  const local = opts.localPort === undefined ? port.data : Number(opts.localPort);
  if (!/^\d{1,5}$/.test(opts.localPort ?? '0') || local > 65535) {
    throw new CliError(`not a port: ${opts.localPort}`, 1, 'give --local-port a number, or 0');
  }
  const bind = opts.bind ?? '127.0.0.1';
  const api = apiClientFor(opts);
  const task = await api.resolveTask(ref);

  const open = new Set<net.Socket>();
  const server = net.createServer((conn) => {
    open.add(conn);
    conn.once('close', () => open.delete(conn));
    conn.on('error', () => conn.destroy());
    conn.pause();
    openTunnel(api.server, api.token, task.id, { kind: 'port', port: port.data }).then(
      ({ socket }) => {
        if (conn.destroyed) {
          socket.destroy();
          return;
        }
        socket.on('error', () => conn.destroy());
        conn.on('error', () => socket.destroy());
        conn.once('close', () => socket.end());
        socket.once('close', () => conn.end());
        conn.pipe(socket).pipe(conn);
        conn.resume();
      },
      (err: unknown) => {
        process.stderr.write(`rclaude: ${safeText(err instanceof Error ? err.message : String(err))}\n`);
        conn.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new CliError(`${bind}:${local} is in use here`, 1, 'pick another with --local-port N (0: any free one)')
          : err,
      ),
    );
    server.listen(local, bind, () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}/`;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ task: task.id, port: port.data, localPort: address.port, url })}\n`);
  } else {
    process.stdout.write(`Forwarding ${url} -> port ${port.data} of task ${task.id}. Ctrl-C stops.\n`);
  }
  return new Promise((resolve) => {
    const stop = () => {
      server.close();
      for (const c of open) c.destroy();
      resolve(EXIT.ok);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
