import type { User, UserRole } from '@rclaude/protocol';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { queryKeys, usersQuery } from '../../api/queries.js';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { Field, inputClasses } from '../../components/form.js';
import { ErrorState, InlineError } from '../../components/states.js';
import { useNow } from '../tasks/use-now.js';
import { Ago, LoadingRows, Notice, SectionForm, SettingsSection } from './settings-section.js';
import { checkNewUser } from './validation.js';

const roleLabels: Record<UserRole, string> = { admin: 'Administrator', user: 'User' };

interface NewUserForm {
  username: string;
  password: string;
  role: UserRole;
}

const emptyForm: NewUserForm = { username: '', password: '', role: 'user' };

/** Every account on the server, and a form to add one. Shown to administrators only (the API refuses others). */
export function UsersPanel({ currentUserId }: { currentUserId: string }) {
  const { api } = useApp();
  const client = useQueryClient();
  const users = useQuery(usersQuery(api));
  const now = useNow(30_000);
  const id = useId();
  const [form, setForm] = useState<NewUserForm>(emptyForm);
  const [problem, setProblem] = useState<string | null>(null);
  const [added, setAdded] = useState<string | null>(null);

  const create = useMutation({
    mutationFn: (input: NewUserForm) => api.createUser(input),
    onSuccess: (user) => {
      client.setQueryData<User[]>(queryKeys.users, (list) => list && [...list, user]);
      setForm(emptyForm);
      setAdded(user.username);
    },
  });
  const update = <K extends keyof NewUserForm>(key: K, value: NewUserForm[K]) =>
    setForm((f) => ({ ...f, [key]: value }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const input = { ...form, username: form.username.trim() };
    const found = checkNewUser(input);
    setProblem(found);
    setAdded(null);
    if (!found) create.mutate(input);
  };

  return (
    <SettingsSection
      title="Users"
      description="Everyone who can sign in to this server. Each user sees only their own tasks, secrets and tokens."
    >
      {users.isPending ? (
        <LoadingRows label="Loading users" />
      ) : users.isError ? (
        <ErrorState error={users.error} title="Could not load the users" onRetry={() => void users.refetch()} />
      ) : (
        <ul aria-label="Users" className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {users.data.map((user) => (
            <li key={user.id} className="flex items-center gap-3 px-4 py-2.5 sm:px-5">
              <span className="min-w-0 flex-1 truncate text-[13px] font-medium">
                {user.username}
                {user.id === currentUserId && (
                  <span className="ml-1.5 font-normal text-zinc-500 dark:text-zinc-400">(you)</span>
                )}
              </span>
              <span
                className={`shrink-0 rounded-full px-2 py-0.5 text-[11px] font-medium ${
                  user.role === 'admin'
                    ? 'bg-ember-50 text-ember-700 dark:bg-ember-700/30 dark:text-ember-400'
                    : 'bg-zinc-100 text-zinc-600 dark:bg-zinc-800 dark:text-zinc-400'
                }`}
              >
                {roleLabels[user.role]}
              </span>
              <span className="hidden w-28 shrink-0 text-right text-[12px] text-zinc-500 sm:inline dark:text-zinc-400">
                added <Ago iso={user.createdAt} now={now} />
              </span>
            </li>
          ))}
        </ul>
      )}

      <SectionForm aria-label="Add a user" onSubmit={submit}>
        <div className="grid gap-3 sm:grid-cols-[1fr_1fr_9rem]">
          <Field id={`${id}-username`} label="Username">
            <input
              id={`${id}-username`}
              value={form.username}
              onChange={(e) => update('username', e.target.value)}
              placeholder="grace"
              maxLength={32}
              spellCheck={false}
              autoCapitalize="none"
              autoComplete="off"
              className={`h-9 ${inputClasses}`}
            />
          </Field>
          <Field id={`${id}-password`} label="Password">
            <input
              id={`${id}-password`}
              type="password"
              value={form.password}
              onChange={(e) => update('password', e.target.value)}
              maxLength={1024}
              autoComplete="new-password"
              className={`h-9 ${inputClasses}`}
            />
          </Field>
          <Field id={`${id}-role`} label="Role">
            <select
              id={`${id}-role`}
              value={form.role}
              onChange={(e) => update('role', e.target.value as UserRole)}
              className={`h-9 ${inputClasses}`}
            >
              <option value="user">{roleLabels.user}</option>
              <option value="admin">{roleLabels.admin}</option>
            </select>
          </Field>
        </div>
        {problem && <InlineError error={new Error(problem)} />}
        {create.error ? <InlineError error={create.error} /> : null}
        <div className="flex flex-wrap items-center justify-end gap-3">
          {added && <Notice>Added {added}. They can sign in with that password now.</Notice>}
          <Button type="submit" variant="primary" disabled={create.isPending}>
            {create.isPending ? 'Adding…' : 'Add user'}
          </Button>
        </div>
      </SectionForm>
    </SettingsSection>
  );
}
