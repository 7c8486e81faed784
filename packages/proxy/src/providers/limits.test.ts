import { describe, expect, it } from 'vitest';
import { DEFAULT_SANDBOX_LIMITS, formatSize, limitReason, parseSize } from './limits.js';

describe('sizes', () => {
  it('parses binary sizes with or without i and B, and bare bytes', () => {
    expect(parseSize('4GiB')).toBe(4 * 1024 ** 3);
    expect(parseSize('4G')).toBe(4 * 1024 ** 3);
    expect(parseSize('4gb')).toBe(4 * 1024 ** 3);
    expect(parseSize('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseSize(' 1.5 g ')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('0')).toBe(0);
    for (const bad of ['', 'lots', '-1G', '4 GiBs', '4iB', '1e9']) expect(parseSize(bad), bad).toBeNull();
  });

  it('formats them for people', () => {
    expect(formatSize(4 * 1024 ** 3)).toBe('4 GiB');
    expect(formatSize(128 * 1024 ** 2)).toBe('128 MiB');
    expect(formatSize(1.5 * 1024 ** 3)).toBe('1.5 GiB');
    expect(formatSize(100)).toBe('100 B');
  });

  it('words a reached limit for the timeline', () => {
    expect(limitReason('memory', DEFAULT_SANDBOX_LIMITS)).toBe('the sandbox ran out of memory (limit 4 GiB)');
    expect(limitReason('pids', DEFAULT_SANDBOX_LIMITS)).toBe('the sandbox reached its process limit (512)');
    expect(limitReason('disk', DEFAULT_SANDBOX_LIMITS)).toBe('the sandbox workspace exceeded 10 GiB (its disk limit)');
  });
});
