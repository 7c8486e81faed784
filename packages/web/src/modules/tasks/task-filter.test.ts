import { describe, expect, it } from 'vitest';
import { makeTask } from '../../test/fixtures.js';
import { buildCreateTaskRequest, type NewTaskForm } from './new-task-dialog.js';
import { splitCommand } from './split-command.js';
import { countByStatusFilter, filterTasks, matchesSearch, parseStatusFilter } from './task-filter.js';

const tasks = [
  makeTask({ id: 'aaaa1111', name: 'Fix login bug', status: 'running', createdAt: '2025-01-01T10:00:00Z' }),
  makeTask({ id: 'bbbb2222', name: 'Write docs', status: 'succeeded', createdAt: '2025-01-02T10:00:00Z' }),
  makeTask({ id: 'cccc3333', name: 'login page redesign', status: 'failed', createdAt: '2025-01-03T10:00:00Z' }),
  makeTask({ id: 'dddd4444', name: 'Upgrade deps', status: 'stopped', createdAt: '2025-01-04T10:00:00Z' }),
  makeTask({ id: 'eeee5555', name: 'Benchmarks', status: 'starting', createdAt: '2025-01-05T10:00:00Z' }),
];

describe('filterTasks', () => {
  it('shows everything newest first with no filter', () => {
    expect(filterTasks(tasks, { status: 'all', query: '' }).map((t) => t.id)).toEqual([
      'eeee5555',
      'dddd4444',
      'cccc3333',
      'bbbb2222',
      'aaaa1111',
    ]);
  });

  it('active means not yet ended, whatever the stage', () => {
    expect(filterTasks(tasks, { status: 'active', query: '' }).map((t) => t.id)).toEqual(['eeee5555', 'aaaa1111']);
  });

  it('an end state matches only itself', () => {
    expect(filterTasks(tasks, { status: 'failed', query: '' }).map((t) => t.id)).toEqual(['cccc3333']);
  });

  it('searches names case-insensitively, every word must appear', () => {
    expect(filterTasks(tasks, { status: 'all', query: 'LOGIN' }).map((t) => t.id)).toEqual(['cccc3333', 'aaaa1111']);
    expect(filterTasks(tasks, { status: 'all', query: 'login bug' }).map((t) => t.id)).toEqual(['aaaa1111']);
    expect(filterTasks(tasks, { status: 'succeeded', query: 'login' })).toEqual([]);
  });

  it('finds a task by the id prefix the CLI prints', () => {
    expect(matchesSearch(tasks[3] as (typeof tasks)[number], 'dddd')).toBe(true);
    expect(matchesSearch(tasks[3] as (typeof tasks)[number], 'ddx')).toBe(false);
  });

  it('counts what each filter would show', () => {
    expect(countByStatusFilter(tasks)).toEqual({ all: 5, active: 2, succeeded: 1, failed: 1, stopped: 1 });
  });

  it('reads unknown filter values from the URL as all', () => {
    expect(parseStatusFilter('failed')).toBe('failed');
    expect(parseStatusFilter('bogus')).toBe('all');
    expect(parseStatusFilter(null)).toBe('all');
  });
});

describe('splitCommand', () => {
  it('splits words like a shell without expanding them', () => {
    expect(splitCommand('npm run test -- --watch=false')).toEqual(['npm', 'run', 'test', '--', '--watch=false']);
    expect(splitCommand(`bash -c 'echo "$HOME" && ls'`)).toEqual(['bash', '-c', 'echo "$HOME" && ls']);
    expect(splitCommand(`echo "a \\"quoted\\" word" plain\\ space`)).toEqual([
      'echo',
      'a "quoted" word',
      'plain space',
    ]);
    expect(splitCommand(`printf ''`)).toEqual(['printf', '']);
    expect(splitCommand('   ')).toEqual([]);
  });

  it('refuses an unterminated quote', () => {
    expect(() => splitCommand(`echo 'oops`)).toThrow(/single quote/);
    expect(() => splitCommand(`echo "oops`)).toThrow(/double quote/);
  });
});

describe('buildCreateTaskRequest', () => {
  const blank: NewTaskForm = {
    name: '',
    mode: 'command',
    command: '',
    prompt: '',
    repo: '',
    push: false,
    provider: '',
  };

  it('leaves out what was not filled in (server defaults apply)', () => {
    expect(buildCreateTaskRequest(blank)).toEqual({});
  });

  it('sends a command as argv with the other fields', () => {
    expect(
      buildCreateTaskRequest(
        { ...blank, name: ' demo ', command: 'bash -l', repo: 'https://x/y.git', provider: 'local' },
        { cols: 100, rows: 30 },
      ),
    ).toEqual({
      name: 'demo',
      command: ['bash', '-l'],
      repo: 'https://x/y.git',
      provider: 'local',
      cols: 100,
      rows: 30,
    });
  });

  it('sends a prompt instead of a command in prompt mode, and asks for one when empty', () => {
    expect(buildCreateTaskRequest({ ...blank, mode: 'prompt', command: 'ignored', prompt: 'do it' })).toEqual({
      prompt: 'do it',
    });
    expect(buildCreateTaskRequest({ ...blank, mode: 'prompt' })).toMatch(/Write a prompt/);
  });

  it('asks to push only with a repository', () => {
    expect(buildCreateTaskRequest({ ...blank, repo: 'https://x/y.git', push: true })).toEqual({
      repo: 'https://x/y.git',
      push: true,
    });
    expect(buildCreateTaskRequest({ ...blank, repo: ' ', push: true })).toEqual({});
  });

  it('explains a command it cannot read', () => {
    expect(buildCreateTaskRequest({ ...blank, command: `echo "x` })).toMatch(/cannot be read/);
  });
});
