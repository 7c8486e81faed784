import type { CreateTaskRequest, ProviderName, Task } from '@rclaude/protocol';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { applyTaskUpdate } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { Dialog } from '../../components/dialog.js';
import { Field, inputClasses } from '../../components/form.js';
import { InlineError } from '../../components/states.js';
import { splitCommand } from './split-command.js';
import { providerLabels, providerOptions } from './task-format.js';

type Mode = 'command' | 'prompt';

export interface NewTaskForm {
  name: string;
  mode: Mode;
  command: string;
  prompt: string;
  repo: string;
  /** Commit the changes to a new branch `rclaude/<id>` of the repository and push it when the task ends. */
  push: boolean;
  provider: ProviderName | '';
}

/**
 * Turns the form into a create request, or a message saying what to fix. An empty command means the
 * server default (Claude Code).
 */
export function buildCreateTaskRequest(
  form: NewTaskForm,
  size?: { cols: number; rows: number },
): CreateTaskRequest | string {
  const request: CreateTaskRequest = {};
  const name = form.name.trim();
  if (name) request.name = name;
  if (form.provider) request.provider = form.provider;
  const repo = form.repo.trim();
  if (repo) request.repo = repo;
  if (repo && form.push) request.push = true;
  if (form.mode === 'prompt') {
    const prompt = form.prompt.trim();
    if (!prompt) return 'Write a prompt, or switch to Command.';
    request.prompt = prompt;
  } else if (form.command.trim()) {
    let argv: string[];
    try {
      argv = splitCommand(form.command);
    } catch (error) {
      return `The command cannot be read: ${error instanceof Error ? error.message : String(error)}.`;
    }
    if (argv.length > 0) request.command = argv;
  }
  if (size) {
    request.cols = size.cols;
    request.rows = size.rows;
  }
  return request;
}

/** A guess at the terminal size the task page will show, so the first screen is drawn at a sensible width. */
function estimateTerminalSize(): { cols: number; rows: number } {
  const cols = Math.max(40, Math.min(300, Math.floor((window.innerWidth * 0.6) / 8.4)));
  const rows = Math.max(12, Math.min(120, Math.floor((window.innerHeight - 160) / 17)));
  return { cols, rows };
}

/** The "New task" form. Calls `onCreated` with the task the server made. */
export function NewTaskDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (task: Task) => void }) {
  const { api } = useApp();
  const client = useQueryClient();
  const id = useId();
  const [form, setForm] = useState<NewTaskForm>({
    name: '',
    mode: 'command',
    command: '',
    prompt: '',
    repo: '',
    push: false,
    provider: '',
  });
  const [problem, setProblem] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (request: CreateTaskRequest) => api.createTask(request),
    onSuccess: (task) => {
      applyTaskUpdate(client, task);
      onCreated(task);
    },
  });
  const update = <K extends keyof NewTaskForm>(key: K, value: NewTaskForm[K]) =>
    setForm((f) => ({ ...f, [key]: value }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const request = buildCreateTaskRequest(form, estimateTerminalSize());
    if (typeof request === 'string') {
      setProblem(request);
      return;
    }
    setProblem(null);
    create.mutate(request);
  };

  return (
    <Dialog
      title="New task"
      description="A fresh sandbox with its own workspace."
      onClose={onClose}
      widthClass="max-w-lg"
    >
      <form onSubmit={submit} className="space-y-4" noValidate>
        <Field id={`${id}-name`} label="Name" hint="Optional. Shown on the dashboard.">
          <input
            id={`${id}-name`}
            autoFocus
            value={form.name}
            maxLength={100}
            onChange={(e) => update('name', e.target.value)}
            placeholder="Fix the flaky login test"
            className={`h-9 ${inputClasses}`}
          />
        </Field>

        <fieldset className="space-y-2">
          <legend className="text-[13px] font-medium text-zinc-700 dark:text-zinc-300">What it runs</legend>
          <div className="inline-flex rounded-lg bg-zinc-100 p-0.5 dark:bg-zinc-800/80">
            {(['command', 'prompt'] as const).map((mode) => (
              <label
                key={mode}
                className={`cursor-pointer rounded-md px-3 py-1 text-[13px] font-medium transition-colors has-[:focus-visible]:outline-2 has-[:focus-visible]:outline-ember-500 ${
                  form.mode === mode
                    ? 'bg-white text-zinc-900 shadow-xs dark:bg-zinc-700 dark:text-white'
                    : 'text-zinc-600 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100'
                }`}
              >
                <input
                  type="radio"
                  name={`${id}-mode`}
                  value={mode}
                  checked={form.mode === mode}
                  onChange={() => update('mode', mode)}
                  className="sr-only"
                />
                {mode === 'command' ? 'Command' : 'Prompt'}
              </label>
            ))}
          </div>
          {form.mode === 'command' ? (
            <Field
              id={`${id}-command`}
              label="Command"
              hint="Runs in a terminal you can attach to. Empty runs Claude Code."
            >
              <input
                id={`${id}-command`}
                value={form.command}
                onChange={(e) => update('command', e.target.value)}
                placeholder="claude"
                spellCheck={false}
                autoCapitalize="none"
                className={`h-9 font-mono text-[13px] ${inputClasses}`}
              />
            </Field>
          ) : (
            <Field
              id={`${id}-prompt`}
              label="Prompt"
              hint="Claude Code works on it without asking; progress shows on the timeline."
            >
              <textarea
                id={`${id}-prompt`}
                value={form.prompt}
                rows={4}
                onChange={(e) => update('prompt', e.target.value)}
                placeholder="Add input validation to the signup form and write tests for it."
                className={`resize-y py-2 ${inputClasses}`}
              />
            </Field>
          )}
        </fieldset>

        <div className="grid gap-4 sm:grid-cols-[1fr_10rem]">
          <Field id={`${id}-repo`} label="Repository" hint="Optional. Cloned into the workspace.">
            <input
              id={`${id}-repo`}
              value={form.repo}
              onChange={(e) => update('repo', e.target.value)}
              placeholder="https://github.com/you/project.git"
              spellCheck={false}
              autoCapitalize="none"
              inputMode="url"
              className={`h-9 ${inputClasses}`}
            />
          </Field>
          <Field id={`${id}-provider`} label="Provider">
            <select
              id={`${id}-provider`}
              value={form.provider}
              onChange={(e) => update('provider', e.target.value as ProviderName | '')}
              className={`h-9 ${inputClasses}`}
            >
              <option value="">Server default</option>
              {providerOptions.map((name) => (
                <option key={name} value={name}>
                  {providerLabels[name]}
                </option>
              ))}
            </select>
          </Field>
        </div>

        {form.repo.trim() && (
          <label className="-mt-2 flex items-start gap-2 text-[13px] text-zinc-600 dark:text-zinc-400">
            <input
              type="checkbox"
              checked={form.push}
              onChange={(e) => update('push', e.target.checked)}
              className="mt-0.5 accent-zinc-900 dark:accent-zinc-100"
            />
            <span>
              When it ends, commit the changes to a new branch{' '}
              <code className="font-mono">rclaude/&lt;task id&gt;</code> and push it to the repository
            </span>
          </label>
        )}

        {problem && <InlineError error={new Error(problem)} />}
        {create.error ? <InlineError error={create.error} /> : null}

        <div className="flex justify-end gap-2 pt-1">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="primary" disabled={create.isPending}>
            {create.isPending ? 'Starting…' : 'Start task'}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
