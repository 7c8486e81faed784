import type { Task } from '@rclaude/protocol';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { useApp } from '../../app-context.js';
import { Button } from '../../components/button.js';
import { inputClasses } from '../../components/form.js';
import { InlineError, Spinner } from '../../components/states.js';

/** A port number as typed, or null when it is not one (1 to 65535). */
export function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text.trim())) return null;
  const n = Number(text.trim());
  return n >= 1 && n <= 65535 ? n : null;
}

/**
 * Ports: a preview link for a port of the task's sandbox (a dev server, a docs site). The server signs a link
 * that serves 127.0.0.1:PORT in the sandbox through the proxy, in a CSP sandbox (its pages cannot use your
 * session); it opens in a new tab. `rclaude port ID PORT` forwards the same port to your machine instead.
 */
export function PortsControl({ task }: { task: Task }) {
  const { api } = useApp();
  const id = useId();
  const [text, setText] = useState('3000');
  const port = parsePort(text);
  const preview = useMutation({ mutationFn: (p: number) => api.createPortPreview(task.id, p) });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (port !== null) preview.mutate(port);
  };

  return (
    <div className="flex flex-col items-end gap-1" data-testid="ports-control">
      <form onSubmit={submit} className="flex items-center gap-1.5" aria-label="Preview a port">
        <label htmlFor={`${id}-port`} className="text-xs text-zinc-500 dark:text-zinc-400">
          Port
        </label>
        <input
          id={`${id}-port`}
          inputMode="numeric"
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            preview.reset();
          }}
          aria-invalid={port === null}
          className={`h-8 w-20 font-mono text-[13px] tabular-nums ${inputClasses}`}
        />
        <Button
          size="sm"
          variant="ghost"
          type="submit"
          disabled={port === null || preview.isPending}
          title="Serve this port of the sandbox in a browser tab"
          data-testid="preview-port"
        >
          {preview.isPending ? <Spinner label="Making a preview link" /> : null}
          Preview
        </Button>
      </form>
      {preview.error ? <InlineError error={preview.error} /> : null}
      {preview.data && port !== null ? (
        <a
          href={preview.data.url}
          target="_blank"
          rel="noopener noreferrer"
          className="text-xs font-medium text-indigo-700 underline-offset-2 hover:underline dark:text-indigo-300"
          data-testid="preview-link"
          title={`Works until ${new Date(preview.data.expiresAt).toLocaleTimeString()}`}
        >
          Open port {port} ↗
        </a>
      ) : null}
    </div>
  );
}
