import { type KeyboardEvent, useDeferredValue, useMemo } from 'react';
import { highlightToHtml } from './highlight.js';

const codeText = 'font-mono text-[12.5px] leading-[1.6] [tab-size:4] [font-variant-ligatures:none]';

function LineNumbers({ count }: { count: number }) {
  const numbers = useMemo(() => Array.from({ length: count }, (_, i) => i + 1).join('\n'), [count]);
  return (
    <pre
      aria-hidden="true"
      className={`sticky left-0 z-10 shrink-0 border-r border-zinc-100 bg-zinc-50 px-3 py-3 text-right text-zinc-400 select-none dark:border-zinc-800 dark:bg-zinc-900 dark:text-zinc-600 ${codeText}`}
    >
      {numbers}
    </pre>
  );
}

function lineCount(text: string): number {
  let count = 1;
  for (let i = 0; i < text.length; i += 1) if (text.charCodeAt(i) === 10) count += 1;
  return text.endsWith('\n') ? count - 1 : count;
}

/** Read-only code with line numbers and syntax colours. */
export function CodeView({ text, language, label }: { text: string; language: string | null; label: string }) {
  const html = useMemo(() => highlightToHtml(text, language), [text, language]);
  return (
    <section aria-label={label} className="flex min-h-full min-w-max">
      <LineNumbers count={lineCount(text)} />
      <pre className={`flex-1 px-4 py-3 text-zinc-800 dark:text-zinc-200 ${codeText}`}>
        {/* biome-ignore lint/security/noDangerouslySetInnerHtml: highlight.js escapes the file's text; it adds only its own span tags */}
        <code className="hljs" dangerouslySetInnerHTML={{ __html: html }} />
      </pre>
    </section>
  );
}

/**
 * A small code editor: a transparent textarea laid exactly over the highlighted text, so the person types
 * in a native control (selection, undo, IME, screen readers all work) and sees colours underneath.
 * Ctrl/Cmd+S saves. Tab moves focus as usual, so the keyboard never gets trapped.
 */
export function CodeEditor({
  value,
  language,
  label,
  onChange,
  onSave,
}: {
  value: string;
  language: string | null;
  label: string;
  onChange: (value: string) => void;
  onSave: () => void;
}) {
  const deferred = useDeferredValue(value);
  const html = useMemo(() => highlightToHtml(deferred, language), [deferred, language]);
  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === 's') {
      event.preventDefault();
      onSave();
    }
  };
  return (
    <div className="flex min-h-full min-w-max">
      <LineNumbers count={lineCount(value)} />
      <div className="grid flex-1">
        <pre
          aria-hidden="true"
          className={`col-start-1 row-start-1 px-4 py-3 text-zinc-800 dark:text-zinc-200 ${codeText}`}
        >
          {/* biome-ignore lint/security/noDangerouslySetInnerHtml: highlight.js escapes the text; it adds only its own span tags */}
          <code className="hljs" dangerouslySetInnerHTML={{ __html: `${html}\n` }} />
        </pre>
        <textarea
          aria-label={label}
          value={value}
          onChange={(e) => onChange(e.target.value)}
          onKeyDown={onKeyDown}
          spellCheck={false}
          autoCapitalize="none"
          autoComplete="off"
          autoCorrect="off"
          wrap="off"
          // biome-ignore lint/a11y/noAutofocus: pressing Edit means the person wants to type in the file now
          autoFocus
          className={`col-start-1 row-start-1 resize-none overflow-hidden border-0 bg-transparent px-4 py-3 text-transparent caret-zinc-900 outline-none selection:bg-sky-200/60 focus:ring-0 dark:caret-zinc-100 dark:selection:bg-sky-700/50 ${codeText}`}
        />
      </div>
    </div>
  );
}
