/** One step of a breadcrumb trail: a name to show and the workspace path it leads to. */
export interface Crumb {
  name: string;
  /** Path relative to the workspace root; "" is the root. */
  path: string;
}

/** The root's name in breadcrumbs. */
export const WORKSPACE_ROOT_NAME = 'workspace';

/**
 * Normalises a workspace path for display and keys: `/` separators, no leading `./` or `/`, no empty or
 * `.` segments, no trailing slash. `..` is kept as given (the server refuses it).
 */
export function normalizePath(path: string): string {
  return path
    .replaceAll('\\', '/')
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

/** Breadcrumbs from the workspace root down to `path`. */
export function breadcrumbs(path: string): Crumb[] {
  const crumbs: Crumb[] = [{ name: WORKSPACE_ROOT_NAME, path: '' }];
  const segments = normalizePath(path).split('/').filter(Boolean);
  segments.forEach((name, index) => {
    crumbs.push({ name, path: segments.slice(0, index + 1).join('/') });
  });
  return crumbs;
}

/** The folder holding `path` ("" for top-level entries). */
export function parentPath(path: string): string {
  const normalized = normalizePath(path);
  const slash = normalized.lastIndexOf('/');
  return slash === -1 ? '' : normalized.slice(0, slash);
}

/** Every folder above `path`, root first, excluding `path` itself: what must be expanded to show it. */
export function ancestorPaths(path: string): string[] {
  const crumbs = breadcrumbs(path);
  return crumbs.slice(0, -1).map((c) => c.path);
}

/** The last segment of a path. */
export function baseName(path: string): string {
  const normalized = normalizePath(path);
  return normalized.slice(normalized.lastIndexOf('/') + 1);
}

/** Joins a folder and a name into a workspace path. */
export function joinPath(dir: string, name: string): string {
  const d = normalizePath(dir);
  return d ? `${d}/${name}` : name;
}
