import type { Task } from '@rclaude/protocol';
import { describe, expect, it } from 'vitest';
import { githubHost, parseGithubRepo, pullRequestBody, pullRequestTitle } from './pull-requests.js';

const task = (over: Partial<Task>): Task =>
  ({
    id: 'abc1234567',
    name: 'fix things',
    prompt: null,
    ...over,
  }) as Task;

describe('which GitHub repository a task names', () => {
  it('takes the web host from the API URL', () => {
    expect(githubHost('https://api.github.com')).toBe('github.com');
    expect(githubHost('https://ghe.example.com/api/v3')).toBe('ghe.example.com');
  });

  it('parses https and ssh URLs on that host only', () => {
    expect(parseGithubRepo('https://github.com/octo/demo', 'github.com')).toEqual({ owner: 'octo', name: 'demo' });
    expect(parseGithubRepo('https://github.com/octo/demo.git', 'github.com')).toEqual({ owner: 'octo', name: 'demo' });
    expect(parseGithubRepo('https://GitHub.com/octo/my.repo/', 'github.com')).toEqual({
      owner: 'octo',
      name: 'my.repo',
    });
    expect(parseGithubRepo('git@github.com:octo/demo.git', 'github.com')).toEqual({ owner: 'octo', name: 'demo' });
    expect(parseGithubRepo('https://gitlab.com/octo/demo', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://github.com.evil.example/octo/demo', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://githubxcom/octo/demo', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://github.com/octo/demo/tree/main', 'github.com')).toBeNull();
    expect(parseGithubRepo('https://github.com/octo/..', 'github.com')).toBeNull();
    expect(parseGithubRepo('/srv/repo.git', 'github.com')).toBeNull();
  });
});

describe('the pull request text', () => {
  it("titles it by the given title, else the prompt's first line, else the task's name", () => {
    expect(pullRequestTitle(task({ prompt: 'Fix the login\n\nin detail' }), 'Mine')).toBe('Mine');
    expect(pullRequestTitle(task({ prompt: '  Fix the login\n\nin detail' }))).toBe('Fix the login');
    expect(pullRequestTitle(task({}))).toBe('fix things');
    expect(pullRequestTitle(task({ prompt: 'x'.repeat(300) }))).toHaveLength(120);
  });

  it('quotes the prompt and result, and links back to the task', () => {
    const body = pullRequestBody(task({ prompt: 'line one\nline two' }), {
      result: 'Done.',
      changes: '1 file changed',
      taskUrl: 'http://127.0.0.1:1/tasks/abc1234567',
    });
    expect(body).toContain('> line one\n> line two');
    expect(body).toContain('**Result**\n\n> Done.');
    expect(body).toContain('**Changes**: 1 file changed');
    expect(body).toContain('[abc1234567](http://127.0.0.1:1/tasks/abc1234567)');
    expect(pullRequestBody(task({}), { result: null, changes: 'x', taskUrl: 'u' })).toContain('(interactive)');
  });
});
