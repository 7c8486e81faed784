/** Socket.io room names. With the Redis adapter, emitting to a room reaches its members on every proxy. */
export const rooms = {
  /** The agent socket of a sandbox (on /agent). */
  sandbox: (sandboxId: string) => `sandbox:${sandboxId}`,
  /** Clients attached to a session (on /client): exit and status notices. */
  session: (sessionId: string) => `session:${sessionId}`,
  /** Clients watching one task (on /client). */
  task: (taskId: string) => `task:${taskId}`,
  /** Clients watching all tasks of a user (on /client). */
  user: (userId: string) => `user:${userId}`,
  /** Admins watching all tasks (on /client). */
  admins: 'admins',
  /** Viewers holding one share link (on /client): revoking the link disconnects them. */
  shareLink: (shareId: string) => `share:${shareId}`,
  /** Share-link viewers of one task (on /client): they get `share:task` and `task:event`, never `task:updated`. */
  shareTask: (taskId: string) => `share-task:${taskId}`,
  /** One signed-in user's sockets on one drive link (on /client): a decision on their request reaches them here. */
  shareUser: (shareId: string, userId: string) => `share-user:${shareId}:${userId}`,
  /** Sockets of a drive link that may type now (on /client); the gateway checks membership on every input. */
  shareDrivers: (shareId: string) => `share-drivers:${shareId}`,
  /** Every share viewer without an account (on /client): they never get `session:presence`. */
  anonymous: 'share-anonymous',
};
