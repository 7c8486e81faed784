import { type CallResult, type FetchLike, ApiClient as RestClient } from '@rclaude/client';
import {
  AppError,
  type BrowserSessionResponse,
  type CreatePushSubscriptionRequest,
  type CreateTaskRequest,
  type TaskStatus,
  type UpdatePushSubscriptionRequest,
  type UserRole,
} from '@rclaude/protocol';

export { type FetchLike, isNetworkError } from '@rclaude/client';

export interface ApiClientOptions {
  fetch: FetchLike;
  /** Prefix for every path, e.g. `https://rclaude.example.com`; empty for the page's own origin. */
  baseUrl?: string;
}

export interface ListTasksOptions {
  status?: TaskStatus;
  q?: string;
  /** At most this many tasks (the server caps it at 500). */
  limit?: number;
}

/** A file's bytes as read through `GET /api/tasks/:id/files/content`. */
export interface FileContent {
  bytes: Uint8Array;
  /** The whole file's size in bytes (`x-file-size`); larger than `bytes.length` when the read was capped. */
  size: number;
}

/** Answer of `POST /api/tokens`: the token itself, which the server never shows again, and its metadata. */
export type CreatedApiToken = CallResult<'createToken'>;

/**
 * The rclaude REST API as the web app uses it: `@rclaude/client`'s typed client in cookie mode. Holds the
 * CSRF token of the browser session, taken from the session answers, and sends it on every mutating request.
 */
export class ApiClient {
  readonly #rest: RestClient;

  constructor(options: ApiClientOptions) {
    this.#rest = new RestClient({
      fetch: options.fetch,
      ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl }),
    });
  }

  /** Remembers (or forgets, with null) the CSRF token returned when the browser session was created. */
  setCsrfToken(token: string | null): void {
    this.#rest.setCsrfToken(token);
  }

  // ---- auth ----------------------------------------------------------------------------------

  /** The current browser session, or null when the browser is not signed in. */
  async getSession(): Promise<BrowserSessionResponse | null> {
    try {
      const session = await this.#rest.call('getBrowserSession');
      this.#rest.setCsrfToken(session.csrfToken);
      return session;
    } catch (error) {
      if (error instanceof AppError && error.code === 'UNAUTHENTICATED') return null;
      throw error;
    }
  }

  /**
   * Signs the browser in with a login link's one-time token. While signed in as someone else the server
   * answers CONFLICT (details: who is signed in, whom the link is for) and keeps the link unused, unless
   * `switchAccount` says the person agreed.
   */
  async createSession(token: string, options: { switchAccount?: boolean } = {}): Promise<BrowserSessionResponse> {
    const body = options.switchAccount ? { token, switchAccount: true } : { token };
    const session = await this.#rest.call('createBrowserSession', { body });
    this.#rest.setCsrfToken(session.csrfToken);
    return session;
  }

  /** Signs the browser in with a password; the session cookie is the only credential it leaves. */
  async signIn(username: string, password: string): Promise<BrowserSessionResponse> {
    const session = await this.#rest.call('createBrowserSession', { body: { username, password } });
    this.#rest.setCsrfToken(session.csrfToken);
    return session;
  }

  async signOut(): Promise<void> {
    await this.#rest.call('endBrowserSession');
    this.#rest.setCsrfToken(null);
  }

  // ---- tasks ---------------------------------------------------------------------------------

  listTasks(options: ListTasksOptions = {}) {
    return this.#rest.listTasks(options);
  }

  getTask(id: string) {
    return this.#rest.getTask(id);
  }

  createTask(request: CreateTaskRequest) {
    return this.#rest.createTask(request);
  }

  /**
   * Stops a task after checkpointing it; CHECKPOINT_FAILED when that fails (the task runs on), unless
   * `force`, which stops it anyway.
   */
  stopTask(id: string, options: { force?: boolean } = {}) {
    return this.#rest.stopTask(id, options);
  }

  /** Checkpoints a running task now. */
  createCheckpoint(id: string) {
    return this.#rest.createCheckpoint(id);
  }

  /** Commits the task's workspace now and pushes it (`POST /api/tasks/:id/push`). */
  pushTask(id: string) {
    return this.#rest.call('pushTask', { params: { id } });
  }

  /** Pushes, then opens (or finds) the task's pull request (`POST /api/tasks/:id/pull-request`). */
  createPullRequest(id: string) {
    return this.#rest.call('createPullRequest', { params: { id } });
  }

  /** The task's checkpoints, newest first. */
  listCheckpoints(id: string) {
    return this.#rest.listCheckpoints(id);
  }

  /** The task's approvals (Claude Code's permission requests), newest first. */
  async listApprovals(id: string) {
    return (await this.#rest.call('listApprovals', { params: { id } })).approvals;
  }

  /** The caller's pending approvals, newest first. */
  async listMyApprovals() {
    return (await this.#rest.call('listMyApprovals', { query: { status: 'pending' } })).approvals;
  }

  /** Allows or denies a pending approval. */
  answerApproval(taskId: string, approvalId: string, decision: 'allow' | 'deny', message?: string) {
    return this.#rest.call('answerApproval', {
      params: { id: taskId, approvalId },
      body: { decision, ...(message ? { message } : {}) },
    });
  }

  /** Resumes a hibernated or ended task in a new sandbox from its latest checkpoint, or `at`. */
  /** The task's forks (docs/moving-work.md). */
  async listForks(id: string) {
    return (await this.#rest.call('listTasks', { query: { forkOf: id, limit: 100 } })).tasks;
  }

  /** Starts `count` new tasks from the task's latest checkpoint, each continuing its conversation. */
  forkTask(id: string, count = 1) {
    return this.#rest.call('forkTask', { params: { id }, body: { count } });
  }

  resumeTask(id: string, at?: string) {
    return this.#rest.resumeTask(id, at ? { at } : {});
  }

  /** A link that serves a port of a running task in a browser tab, through the proxy (docs/ssh-and-ports.md). */
  createPortPreview(id: string, port: number) {
    return this.#rest.call('createPortPreview', { params: { id, port } });
  }

  /** Restarts a running task's idle clock; answers when it would hibernate now. */
  keepTask(id: string) {
    return this.#rest.keepTask(id);
  }

  async deleteTask(id: string): Promise<void> {
    await this.#rest.deleteTask(id);
  }

  listTaskEvents(id: string, afterSeq?: number) {
    return this.#rest.listTaskEvents(id, afterSeq);
  }

  // ---- sessions and recordings ---------------------------------------------------------------

  /** The task's sessions: its main one and any shells opened beside it. */
  async listTaskSessions(id: string) {
    return (await this.#rest.call('listTaskSessions', { params: { id } })).sessions;
  }

  /** Opens a login shell in a running task's sandbox (a new session). */
  openShell(taskId: string, size: { cols?: number; rows?: number } = {}) {
    return this.#rest.call('createSession', { body: { taskId, ...size } });
  }

  /** A session's recording, as asciicast v2 text. */
  async sessionRecording(sessionId: string): Promise<string> {
    const res = await this.#rest.call('getSessionRecording', { params: { id: sessionId }, query: { format: 'cast' } });
    return res.text();
  }

  /**
   * Continues a finished prompt task's conversation in an interactive Claude Code session (or returns the
   * one already open); attach to the returned session.
   */
  continueTask(id: string, size: { cols?: number; rows?: number } = {}) {
    return this.#rest.continueTask(id, size);
  }

  /** This calendar month's spending of the caller. */
  getUsage() {
    return this.#rest.call('usage');
  }

  // ---- secrets, API tokens, users ----------------------------------------------------------

  /** The hosts the caller added to the egress allow-list for all their tasks. */
  async listAllowHosts() {
    return (await this.#rest.call('listAllowHosts')).hosts;
  }

  /** Adds a host name or *.pattern (optional :port); the server refuses addresses and bad names. */
  addAllowHost(host: string) {
    return this.#rest.call('addAllowHost', { body: { host } });
  }

  async removeAllowHost(host: string): Promise<void> {
    await this.#rest.call('removeAllowHost', { params: { host } });
  }

  /** The caller's secrets, by name only: the server never returns a value. */
  async listSecrets() {
    return (await this.#rest.call('listSecrets')).secrets;
  }

  /** Stores (or replaces) a secret; it reaches the caller's sandboxes started from now on. */
  putSecret(name: string, value: string) {
    return this.#rest.call('putSecret', { params: { name }, body: { value } });
  }

  async deleteSecret(name: string): Promise<void> {
    await this.#rest.call('deleteSecret', { params: { name } });
  }

  async listApiTokens() {
    return (await this.#rest.call('listTokens')).tokens;
  }

  createApiToken(name: string): Promise<CreatedApiToken> {
    return this.#rest.call('createToken', { body: { name } });
  }

  async revokeApiToken(id: string): Promise<void> {
    await this.#rest.call('revokeToken', { params: { id } });
  }

  /** Every user (admins only; others get FORBIDDEN). */
  async listUsers() {
    return (await this.#rest.call('listUsers')).users;
  }

  /** Creates a user (admins only). */
  createUser(request: { username: string; password: string; role: UserRole }) {
    return this.#rest.call('createUser', { body: request });
  }

  // ---- push notifications --------------------------------------------------------------------

  /** The server's VAPID public key (for `pushManager.subscribe`) and the kinds of notification. */
  getPushConfig() {
    return this.#rest.call('getPushConfig');
  }

  async listPushSubscriptions() {
    return (await this.#rest.call('listPushSubscriptions')).subscriptions;
  }

  /** Saves this browser's subscription (the same endpoint again updates it). */
  createPushSubscription(body: CreatePushSubscriptionRequest) {
    return this.#rest.call('createPushSubscription', { body });
  }

  updatePushSubscription(id: string, body: UpdatePushSubscriptionRequest) {
    return this.#rest.call('updatePushSubscription', { params: { id }, body });
  }

  async deletePushSubscription(id: string): Promise<void> {
    await this.#rest.call('deletePushSubscription', { params: { id } });
  }

  /** Sends a test notification to one subscription; says whether its push service took it. */
  testPush(id: string) {
    return this.#rest.call('testPush', { params: { id } });
  }

  // ---- files ---------------------------------------------------------------------------------

  listFiles(taskId: string, path: string) {
    return this.#rest.listFiles(taskId, path);
  }

  /** Reads at most `maxBytes` from the start of a file. */
  async readFile(taskId: string, path: string, maxBytes: number): Promise<FileContent> {
    const response = await this.#rest.call('readFile', { params: { id: taskId }, query: { path, length: maxBytes } });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const header = Number(response.headers.get('x-file-size'));
    return { bytes, size: Number.isFinite(header) && header >= bytes.length ? header : bytes.length };
  }

  writeFile(taskId: string, path: string, content: string | Blob) {
    return this.#rest.call('writeFile', { params: { id: taskId }, query: { path }, body: content });
  }

  async deleteFile(taskId: string, path: string, recursive: boolean): Promise<void> {
    await this.#rest.call('deleteFile', {
      params: { id: taskId },
      query: { path, recursive: recursive ? 'true' : 'false' },
    });
  }

  async uploadFiles(taskId: string, dir: string, files: readonly File[]) {
    const form = new FormData();
    for (const file of files) form.append('file', file, file.name);
    return (await this.#rest.call('uploadFiles', { params: { id: taskId }, query: { dir }, body: form })).files;
  }

  /** A URL the browser can follow (with its cookie) to download a file as an attachment. */
  fileDownloadUrl(taskId: string, path: string): string {
    return this.#rest.url('downloadFile', { params: { id: taskId }, query: { path } });
  }

  // ---- share links ------------------------------------------------------------------------------

  /** A new read-only link to a task; its URL (with the secret after `#`) is shown only in this answer. */
  createShare(taskId: string, expiresInMs: number, kind: 'view' | 'drive' = 'view') {
    return this.#rest.call('createShare', { params: { id: taskId }, body: { kind, expiresInMs } });
  }

  /** Requests to type into a task through its co-drive links, newest first. */
  async listDriveRequests(taskId: string) {
    return (await this.#rest.call('listDriveRequests', { params: { id: taskId } })).requests;
  }

  /** Accept or refuse a pending request to type; revoke an accepted one. */
  decideDriveRequest(requestId: string, decision: 'accept' | 'refuse' | 'revoke') {
    return this.#rest.call('decideDriveRequest', { params: { requestId }, body: { decision } });
  }

  /** The share links the caller created for one task, newest first. */
  async listShares(taskId: string) {
    return (await this.#rest.call('listShares', { query: { task: taskId } })).shares;
  }

  async revokeShare(shareId: string): Promise<void> {
    await this.#rest.call('revokeShare', { params: { shareId } });
  }

  /** What a share link shows (public: the secret is the credential; it travels in the body, never a URL). */
  shareView(shareId: string, secret: string) {
    return this.#rest.call('shareView', { params: { shareId }, body: { secret } });
  }
}
