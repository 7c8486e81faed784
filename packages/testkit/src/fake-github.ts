/**
 * A fake GitHub REST API on loopback, enough for what rclaude's pull requests call through Octokit
 * (`RCLAUDE_GITHUB_API_URL=fake.url`): `GET /repos/:owner/:repo` (the default branch), `GET
 * /repos/:owner/:repo/pulls?head=owner:branch&state=open` and `POST /repos/:owner/:repo/pulls`. Every request
 * must carry `Authorization: token <token>` or `Bearer <token>` with the configured token, else 401 `Bad
 * credentials` like GitHub. Requests are recorded for assertions; pull requests are kept in memory.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the fake received. `body` is the parsed JSON body, or null. */
export interface FakeGithubRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** A pull request the fake holds. */
export interface FakePullRequest {
  number: number;
  owner: string;
  repo: string;
  title: string;
  body: string;
  head: string;
  base: string;
  draft: boolean;
  htmlUrl: string;
}

export interface FakeGithubOptions {
  /** The token every request must carry. */
  token: string;
  /** Repositories that exist (`owner/name`) and their default branches; others answer 404. */
  repos: Record<string, { defaultBranch: string }>;
}

export interface FakeGithub {
  /** The API base URL (for `RCLAUDE_GITHUB_API_URL`). */
  url: string;
  requests: FakeGithubRequest[];
  pulls: FakePullRequest[];
  close(): Promise<void>;
}

/** Starts the fake on 127.0.0.1, on a free port. */
export async function startFakeGithub(opts: FakeGithubOptions): Promise<FakeGithub> {
  const requests: FakeGithubRequest[] = [];
  const pulls: FakePullRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = null;
      }
      const request: FakeGithubRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body,
      };
      requests.push(request);
      const send = (status: number, data: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify(data));
      };
      const auth = /^(?:token|bearer) (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
      if (auth !== opts.token) return send(401, { message: 'Bad credentials', status: '401' });
      const m = /^\/repos\/([^/]+)\/([^/]+)(\/pulls)?$/.exec(url.pathname);
      const owner = decodeURIComponent(m?.[1] ?? '');
      const repo = decodeURIComponent(m?.[2] ?? '');
      const known = opts.repos[`${owner}/${repo}`];
      if (!m || !known) return send(404, { message: 'Not Found', status: '404' });
      const apiPull = (p: FakePullRequest) => ({
        number: p.number,
        html_url: p.htmlUrl,
        title: p.title,
        body: p.body,
        draft: p.draft,
        state: 'open',
        head: { ref: p.head, label: `${p.owner}:${p.head}` },
        base: { ref: p.base },
      });
      if (!m[3] && request.method === 'GET') {
        return send(200, { full_name: `${owner}/${repo}`, default_branch: known.defaultBranch });
      }
      if (m[3] && request.method === 'GET') {
        const head = request.query.head;
        const found = pulls.filter(
          (p) => p.owner === owner && p.repo === repo && (!head || `${p.owner}:${p.head}` === head),
        );
        return send(200, found.map(apiPull));
      }
      if (m[3] && request.method === 'POST') {
        const b = (body ?? {}) as Record<string, unknown>;
        const { title, head, base } = b;
        if (typeof title !== 'string' || typeof head !== 'string' || typeof base !== 'string') {
          return send(422, {
            message: 'Validation Failed',
            errors: [{ message: 'title, head and base are required' }],
          });
        }
        if (pulls.some((p) => p.owner === owner && p.repo === repo && p.head === head)) {
          return send(422, {
            message: 'Validation Failed',
            errors: [{ message: `A pull request already exists for ${owner}:${head}.` }],
          });
        }
        const number = pulls.length + 1;
        const pull: FakePullRequest = {
          number,
          owner,
          repo,
          title,
          body: typeof b.body === 'string' ? b.body : '',
          head,
          base,
          draft: b.draft === true,
          htmlUrl: `https://github.example/${owner}/${repo}/pull/${number}`,
        };
        pulls.push(pull);
        return send(201, apiPull(pull));
      }
      return send(404, { message: 'Not Found', status: '404' });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    pulls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
