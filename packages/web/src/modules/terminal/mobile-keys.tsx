import { useEffect, useState } from 'react';

/** The keys a phone keyboard lacks, in the order the row shows them. */
export type MobileKey = 'esc' | 'tab' | 'shift-tab' | 'ctrl' | 'up' | 'down' | 'left' | 'right' | 'ctrl-c';

const ARROWS: Record<'up' | 'down' | 'left' | 'right', string> = { up: 'A', down: 'B', right: 'C', left: 'D' };

/**
 * The bytes a key of the row sends: Esc `\x1b`, Tab `\t`, Shift-Tab `\x1b[Z` (Claude Code's mode switch), the
 * arrows `\x1b[A`..`\x1b[D` (with the sticky Ctrl held, `\x1b[1;5A`..), Ctrl-C `\x03`. Ctrl itself sends nothing:
 * it modifies the next key.
 */
export function mobileKeyBytes(key: MobileKey, ctrl: boolean): string {
  switch (key) {
    case 'esc':
      return '\x1b';
    case 'tab':
      return '\t';
    case 'shift-tab':
      return '\x1b[Z';
    case 'ctrl-c':
      return '\x03';
    case 'ctrl':
      return '';
    default:
      return ctrl ? `\x1b[1;5${ARROWS[key]}` : `\x1b[${ARROWS[key]}`;
  }
}

/**
 * What typed text becomes with the sticky Ctrl held: a letter its control character (`c` -> `\x03`), and
 * `@ [ \ ] ^ _ ?` theirs; anything else (several characters, a paste) goes as typed.
 */
export function withCtrl(data: string): string {
  if (data.length !== 1) return data;
  const c = data.toUpperCase().charCodeAt(0);
  if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c & 0x1f);
  if (data === '?') return '\x7f';
  if (data === ' ') return '\x00';
  return data;
}

const LABELS: { key: MobileKey; label: string; name: string }[] = [
  { key: 'esc', label: 'Esc', name: 'Escape' },
  { key: 'tab', label: 'Tab', name: 'Tab' },
  { key: 'shift-tab', label: '⇧Tab', name: 'Shift-Tab (switch mode)' },
  { key: 'ctrl', label: 'Ctrl', name: 'Control (for the next key)' },
  { key: 'ctrl-c', label: '^C', name: 'Control-C (interrupt)' },
  { key: 'left', label: '←', name: 'Left arrow' },
  { key: 'up', label: '↑', name: 'Up arrow' },
  { key: 'down', label: '↓', name: 'Down arrow' },
  { key: 'right', label: '→', name: 'Right arrow' },
];

/** Narrow screens and touch screens get the key row. */
export const MOBILE_KEYS_QUERY = '(max-width: 767px), (pointer: coarse)';

/** Whether a media query matches, following changes. */
export function useMediaQuery(query: string): boolean {
  const get = () =>
    typeof window !== 'undefined' && typeof window.matchMedia === 'function' && window.matchMedia(query).matches;
  const [matches, setMatches] = useState(get);
  useEffect(() => {
    if (typeof window.matchMedia !== 'function') return;
    const list = window.matchMedia(query);
    const onChange = () => setMatches(list.matches);
    onChange();
    list.addEventListener('change', onChange);
    return () => list.removeEventListener('change', onChange);
  }, [query]);
  return matches;
}

/**
 * A row of keys under the terminal for phones: big enough for a thumb, and pressing one keeps the focus (and
 * so the on-screen keyboard) where it was. `ctrl` is the sticky modifier: on until the next key.
 */
export function MobileKeys({
  disabled,
  ctrl,
  onKey,
}: {
  disabled: boolean;
  ctrl: boolean;
  onKey: (key: MobileKey) => void;
}) {
  return (
    <div
      role="toolbar"
      aria-label="Terminal keys"
      className="flex shrink-0 gap-1 overflow-x-auto border-t border-zinc-200 bg-zinc-50 px-2 py-1.5 pb-[max(0.375rem,env(safe-area-inset-bottom))] dark:border-zinc-800 dark:bg-zinc-900"
    >
      {LABELS.map(({ key, label, name }) => {
        const pressed = key === 'ctrl' ? ctrl : undefined;
        return (
          <button
            key={key}
            type="button"
            aria-label={name}
            aria-pressed={pressed}
            disabled={disabled}
            // Keep the terminal focused: a tap must not close the on-screen keyboard.
            onPointerDown={(e) => e.preventDefault()}
            onMouseDown={(e) => e.preventDefault()}
            onClick={() => onKey(key)}
            className={`h-11 min-w-9 flex-1 touch-manipulation rounded-lg border px-1 font-mono text-[13px] select-none disabled:opacity-40 sm:flex-none sm:px-3 ${
              pressed
                ? 'border-ember-500 bg-ember-500 text-white'
                : 'border-zinc-200 bg-white text-zinc-800 active:bg-zinc-100 dark:border-zinc-700 dark:bg-zinc-800 dark:text-zinc-100 dark:active:bg-zinc-700'
            }`}
          >
            {label}
          </button>
        );
      })}
    </div>
  );
}
