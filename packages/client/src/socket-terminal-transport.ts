import { AppError, type AttachResult, type ExitInfo, type SessionStatusInfo } from '@rclaude/protocol';
import { type ClientSocket, toBytes, waitForConnection } from './socket-client.js';
import type { TerminalAttachment, TerminalLink, TerminalTransport } from './terminal-transport.js';

export interface SocketTerminalTransportOptions {
  /** How long one attach may wait for the connection and the server's answer. */
  attachTimeoutMs?: number;
}

/**
 * A TerminalTransport over a Socket.io connection to `/client`, for one session. The socket is the
 * caller's: it may carry other sessions and task subscriptions, and outlives every link.
 */
export function createSocketTerminalTransport(
  socket: ClientSocket,
  sessionId: string,
  options: SocketTerminalTransportOptions = {},
): TerminalTransport {
  const timeoutMs = options.attachTimeoutMs ?? 15_000;
  return {
    async open(request, events) {
      await waitForConnection(socket, timeoutMs);

      // Listeners go on before the attach is sent: output may follow its answer immediately.
      const onOutput = (id: string, offset: number, data: Uint8Array) => {
        if (id === sessionId) events.output(offset, toBytes(data));
      };
      const onExit = (info: ExitInfo) => {
        if (info.sessionId === sessionId) {
          events.exit({ exitCode: info.exitCode, signal: info.signal, endOffset: info.endOffset });
        }
      };
      const onStatus = (info: SessionStatusInfo) => {
        if (info.sessionId === sessionId) events.agent({ connected: info.agentConnected, reason: info.reason });
      };
      const onDisconnect = (reason: string) => {
        removeListeners();
        events.closed(reason);
      };
      const removeListeners = () => {
        socket.off('pty:output', onOutput);
        socket.off('pty:exit', onExit);
        socket.off('session:status', onStatus);
        socket.off('disconnect', onDisconnect);
      };
      socket.on('pty:output', onOutput);
      socket.on('pty:exit', onExit);
      socket.on('session:status', onStatus);
      socket.on('disconnect', onDisconnect);

      let result: AttachResult;
      try {
        result = await attach(socket, timeoutMs, {
          sessionId,
          from: request.from,
          readOnly: request.readOnly,
          ...(request.cols && request.rows ? { cols: request.cols, rows: request.rows } : {}),
        });
      } catch (error) {
        removeListeners();
        throw error;
      }

      const { session } = result;
      const attachment: TerminalAttachment = {
        screen: result.screen,
        from: result.from,
        exit:
          session.status === 'exited'
            ? { exitCode: session.exitCode, signal: null, endOffset: session.outputEnd }
            : null,
        running: session.status === 'running' && session.agentConnected,
      };
      let open = true;
      const link: TerminalLink = {
        attachment,
        input: (data) => {
          if (open) socket.emit('pty:input', { sessionId, data });
        },
        resize: (cols, rows) => {
          if (open) socket.emit('pty:resize', { sessionId, cols, rows });
        },
        signal: (signal) => {
          if (open) socket.emit('pty:signal', { sessionId, signal });
        },
        ack: (offset) => {
          if (open) socket.emit('pty:ack', { sessionId, offset });
        },
        close: () => {
          if (!open) return;
          open = false;
          removeListeners();
          if (socket.connected) socket.emit('session:detach', { sessionId });
        },
      };
      return link;
    },
  };
}

function attach(
  socket: ClientSocket,
  timeoutMs: number,
  request: { sessionId: string; from: number | 'screen'; readOnly: boolean; cols?: number; rows?: number },
): Promise<AttachResult> {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit('session:attach', request, (error, ack) => {
      if (error) {
        reject(new AppError('TIMEOUT', 'The server did not answer the attach request.', { cause: error }));
      } else if (ack.ok) {
        resolve(ack.data);
      } else {
        reject(AppError.from(ack.error));
      }
    });
  });
}
