import { lookup as dnsLookup } from 'node:dns/promises';
import http, { type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { type AllowList, addressAllowed, hostAllowed, parseConnectTarget, withTaskHosts } from './allow-list.js';
import { HOP_BY_HOP } from './model-endpoint.js';

export interface OutboundProxyDeps {
  allow: AllowList;
  /** Resolves a host name to its addresses (default: the system resolver, every address). */
  lookup?: (host: string) => Promise<string[]>;
  log: Logger;
  /** How long connecting to a target may take. Default 10 s. */
  connectTimeoutMs?: number;
}

/** Hears why a connection was refused (the gateway tells the task's timeline). */
export type Refused = (target: string, reason: string) => void;

type Decision = { ok: true; address: string } | { ok: false; status: number; reason: string };

/**
 * The sandbox's HTTP proxy for everything but the model: `CONNECT host:port` tunnels (HTTPS, and anything
 * else over TLS) and absolute-form plain HTTP requests, to hosts on the allow-list only. The proxy resolves
 * the name itself, checks every address it would use (no loopback, private, link-local, CGNAT, metadata or
 * reserved address unless the allow-list names that address), and connects to the address it checked, so a
 * DNS answer that changes between check and use changes nothing.
 */
export class OutboundProxy {
  private readonly lookup: (host: string) => Promise<string[]>;

  constructor(private readonly deps: OutboundProxyDeps) {
    this.lookup =
      deps.lookup ?? (async (host) => (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address));
  }

  /**
   * Where a connection to `host:port` may go: one checked address, or why not. `taskHosts` are the task's own
   * additions (host names and patterns only; see checkTaskAllowHosts).
   */
  async decide(host: string, port: number, taskHosts: readonly string[] = []): Promise<Decision> {
    const allow = withTaskHosts(this.deps.allow, taskHosts);
    if (!hostAllowed(allow, host, port)) {
      const entry = port === 80 || port === 443 ? host : `${host}:${port}`;
      return {
        ok: false,
        status: 403,
        reason:
          net.isIP(host) !== 0
            ? `${host}:${port} is not on the egress allow-list (an address is opened by an admin, with RCLAUDE_EGRESS_ALLOW)`
            : `${host}:${port} is not on the egress allow-list (add it to a task with \`rclaude run --allow-host ${entry}\`, to all your tasks with \`rclaude allow-host add ${entry}\`; an admin adds hosts for everyone with RCLAUDE_EGRESS_ALLOW)`,
      };
    }
    let addresses: string[];
    if (net.isIP(host) !== 0) {
      addresses = [host];
    } else {
      try {
        addresses = await this.lookup(host);
      } catch (err) {
        return {
          ok: false,
          status: 502,
          reason: `${host} could not be resolved (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
        };
      }
    }
    const refused: string[] = [];
    for (const address of addresses) {
      const verdict = addressAllowed(allow, address, port);
      if (verdict.ok) return { ok: true, address };
      refused.push(`${address} (${verdict.class})`);
    }
    return {
      ok: false,
      status: 403,
      reason: `${host} resolves to ${refused.join(', ') || 'no address'}, which sandboxes may not reach unless RCLAUDE_EGRESS_ALLOW names the address`,
    };
  }

  /** A `CONNECT host:port` on a tunnelled connection: answer 200 and pipe, or refuse and close. */
  handleConnect(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    refused?: Refused,
    taskHosts: readonly string[] = [],
  ): void {
    socket.on('error', () => socket.destroy());
    const target = parseConnectTarget(req.url ?? '');
    if (!target) {
      endWith(socket, 400, 'CONNECT needs host:port');
      return;
    }
    const label = `${target.host}:${target.port}`;
    this.decide(target.host, target.port, taskHosts)
      .then((decision) => {
        if (socket.destroyed) return;
        if (!decision.ok) {
          this.refuse(label, decision.reason, refused);
          endWith(socket, decision.status, decision.reason);
          return;
        }
        const upstream = net.connect({ host: decision.address, port: target.port });
        let connected = false;
        upstream.setTimeout(this.deps.connectTimeoutMs ?? 10_000, () =>
          upstream.destroy(new Error('connect timed out')),
        );
        upstream.once('connect', () => {
          connected = true;
          upstream.setTimeout(0);
          socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          if (head.length > 0) upstream.write(head);
          upstream.pipe(socket);
          socket.pipe(upstream);
        });
        upstream.on('error', (err) => {
          if (!connected) endWith(socket, 502, `could not connect to ${label}: ${err.message}`);
          else socket.destroy();
        });
        upstream.once('close', () => socket.destroy());
        socket.once('close', () => upstream.destroy());
      })
      .catch((err: unknown) => {
        this.deps.log.error({ err, target: label }, 'egress CONNECT failed');
        socket.destroy();
      });
  }

  /** An absolute-form request (`GET http://host/path`): forwarded to the checked address, or refused. */
  async handleAbsolute(
    req: IncomingMessage,
    res: ServerResponse,
    refused?: Refused,
    taskHosts: readonly string[] = [],
  ): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return sendText(res, 400, 'rclaude egress: not a valid request target');
    }
    if (url.protocol !== 'http:') {
      return sendText(res, 400, `rclaude egress: ${url.protocol} requests go through CONNECT`);
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port ? Number(url.port) : 80;
    const decision = await this.decide(host, port, taskHosts);
    if (!decision.ok) {
      this.refuse(`${host}:${port}`, decision.reason, refused);
      return sendText(res, decision.status, `rclaude egress: ${decision.reason}`);
    }
    const headers: OutgoingHttpHeaders = {};
    const named = String(req.headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase());
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name) && !named.includes(name)) headers[name] = value;
    }
    headers.host = url.host;
    const upReq = http.request({
      host: decision.address,
      port,
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers,
      setHost: false,
    });
    res.once('close', () => {
      if (!res.writableFinished) upReq.destroy();
    });
    upReq.on('response', (upRes) => {
      const out: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(upRes.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      }
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, out);
      upRes.pipe(res);
    });
    upReq.on('error', (err) => {
      if (res.headersSent) res.destroy();
      else sendText(res, 502, `rclaude egress: could not reach ${url.host}: ${err.message}`);
    });
    req.pipe(upReq);
  }

  private refuse(target: string, reason: string, refused: Refused | undefined): void {
    this.deps.log.info({ target, reason }, 'egress refused');
    refused?.(target, reason);
  }
}

function endWith(socket: Duplex, status: number, message: string): void {
  const body = `rclaude egress: ${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function sendText(res: ServerResponse, status: number, message: string): void {
  const body = `${message}\n`;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
