import { AppError } from '@rclaude/protocol';
import { quotePath } from './workspace-path.js';

function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') return err.code;
  return undefined;
}

/** True when `err` is a Node system error with this errno code (ENOENT, ELOOP, ...). */
export function hasErrno(err: unknown, ...codes: string[]): boolean {
  const code = errnoCode(err);
  return code !== undefined && codes.includes(code);
}

/**
 * Maps a failed file-system call on workspace path `path` to an AppError a user can act on. An AppError
 * passes through unchanged; an unknown failure becomes INTERNAL with the original as its (logged) cause.
 */
export function toFileError(err: unknown, path: string): AppError {
  if (err instanceof AppError) return err;
  const p = quotePath(path);
  switch (errnoCode(err)) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new AppError('NOT_FOUND', `no such file or folder: ${p}`, { cause: err });
    case 'ELOOP':
      return new AppError(
        'PATH_REFUSED',
        `path ${p} is refused: a symbolic link appeared while it was opened; try again`,
        {
          cause: err,
        },
      );
    case 'ENAMETOOLONG':
      return new AppError('PATH_REFUSED', `path ${p} is refused: a name is too long`, { cause: err });
    case 'ENXIO':
    case 'ENODEV':
      return new AppError('PATH_REFUSED', `path ${p} is refused: it is not a regular file`, { cause: err });
    case 'EISDIR':
      return new AppError('CONFLICT', `${p} is a folder`, { cause: err });
    case 'EEXIST':
      return new AppError('CONFLICT', `${p} already exists`, { cause: err });
    case 'ENOTEMPTY':
      return new AppError('CONFLICT', `folder ${p} is not empty; delete it with recursive=true`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new AppError('FORBIDDEN', `permission denied on ${p}`, { cause: err });
    case 'EROFS':
      return new AppError('FORBIDDEN', `${p} is on a read-only file system`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return new AppError('PAYLOAD_TOO_LARGE', `no space left in the workspace to write ${p}`, { cause: err });
    case 'EMFILE':
    case 'ENFILE':
      return new AppError('AGENT_UNAVAILABLE', 'the agent has too many files open; try again', { cause: err });
    case 'EINVAL':
      return new AppError('BAD_REQUEST', `invalid operation on ${p}`, { cause: err });
    default:
      return new AppError('INTERNAL', `file operation on ${p} failed`, { cause: err });
  }
}
