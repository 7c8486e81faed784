import net from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picked it), for a server a test starts itself. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      if (address === null || typeof address === 'string') {
        srv.close(() => reject(new Error('no TCP port was given')));
        return;
      }
      srv.close(() => resolve(address.port));
    });
  });
}
