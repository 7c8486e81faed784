import '@xterm/xterm/css/xterm.css';
import { TerminalConnection, type TerminalConnectionState, type TerminalTransport } from '@rclaude/client';
import { FitAddon } from '@xterm/addon-fit';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { type IDisposable, Terminal as XTerm } from '@xterm/xterm';
import { useEffect, useRef, useState } from 'react';
import { IconButton } from '../../components/button.js';
import { ClipboardIcon, CopyIcon } from '../../components/icons.js';
import {
  MOBILE_KEYS_QUERY,
  type MobileKey,
  MobileKeys,
  mobileKeyBytes,
  useMediaQuery,
  withCtrl,
} from './mobile-keys.js';
import { terminalThemes } from './terminal-themes.js';

export interface TerminalProps {
  transport: TerminalTransport;
  /** No input or resizes (the task has ended, or the viewer only watches). */
  readOnly: boolean;
  theme: 'light' | 'dark';
  /** Accessible name of the terminal, e.g. "Terminal of fix-login". */
  label: string;
  /** The task has ended: the terminal stays for reading and says so. */
  ended?: boolean;
  /** Takes keyboard focus once attached. */
  autoFocus?: boolean;
  /**
   * `auto` draws with WebGL where the browser has it; `dom` always uses the DOM renderer (for GPUs that
   * draw WebGL badly, and for tests that read the screen's text).
   */
  renderer?: 'auto' | 'dom';
  onStateChange?: (state: TerminalConnectionState) => void;
}

/** Input held while the session cannot take it; xterm itself takes no input while detached. */
const HELD_INPUT_MAX_CHARS = 64 * 1024;

const FONT_FAMILY =
  '"JetBrains Mono Variable", ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace';

function webglAvailable(): boolean {
  try {
    return document.createElement('canvas').getContext('webgl2') !== null;
  } catch {
    return false;
  }
}

/**
 * An xterm.js terminal attached to one session. It owns the whole lifecycle: creates xterm and its
 * addons, keeps it fitted to its pane, attaches through `transport` (reconnecting with backoff, resuming
 * by offset), disables input while detached or read-only, acknowledges output after it is drawn, and
 * disposes every listener on unmount. `data-status` on the root reflects the connection for tests.
 */
export function Terminal({
  transport,
  readOnly,
  theme,
  label,
  autoFocus = false,
  ended = false,
  renderer = 'auto',
  onStateChange,
}: TerminalProps) {
  const hostRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<XTerm | null>(null);
  const connectionRef = useRef<TerminalConnection | null>(null);
  const readOnlyRef = useRef(readOnly);
  const themeRef = useRef(theme);
  const onStateChangeRef = useRef(onStateChange);
  const autoFocusRef = useRef(autoFocus);
  const rendererRef = useRef(renderer);
  const [state, setState] = useState<TerminalConnectionState | null>(null);
  const [hasSelection, setHasSelection] = useState(false);
  // The phone key row's sticky Ctrl: applies to the next key typed (on the keyboard or the row).
  const [ctrl, setCtrl] = useState(false);
  const ctrlRef = useRef(false);
  const showMobileKeys = useMediaQuery(MOBILE_KEYS_QUERY);
  const clipboard = typeof navigator !== 'undefined' ? navigator.clipboard : undefined;

  onStateChangeRef.current = onStateChange;

  useEffect(() => {
    const host = hostRef.current;
    if (!host) return;
    let disposed = false;
    const disposables: IDisposable[] = [];
    let observer: ResizeObserver | null = null;
    let frame = 0;
    let focusedOnce = false;

    const term = new XTerm({
      fontFamily: FONT_FAMILY,
      fontSize: 13,
      lineHeight: 1.2,
      cursorBlink: true,
      scrollback: 10_000,
      allowProposedApi: false,
      disableStdin: true,
      theme: terminalThemes[themeRef.current],
      macOptionIsMeta: true,
      rightClickSelectsWord: true,
    });
    termRef.current = term;
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.loadAddon(new WebLinksAddon());

    const connection = new TerminalConnection({
      transport,
      readOnly: readOnlyRef.current,
      // Typed while attached but before the process exists, or while the sandbox is away: sent once it can be.
      maxHeldInputChars: HELD_INPUT_MAX_CHARS,
      size: () => ({ cols: term.cols, rows: term.rows }),
      sink: {
        reset: () => term.reset(),
        write: (data, rendered) => term.write(data, rendered),
      },
      onChange: (next) => {
        if (disposed && next.status !== 'disposed') return;
        term.options.disableStdin = next.status !== 'connected' || next.readOnly;
        term.options.cursorBlink = next.status === 'connected' && !next.readOnly;
        // Nothing will be typed into an exited session: a cursor there would only suggest otherwise.
        if (next.status === 'exited') term.write('\x1b[?25l');
        setState(next);
        onStateChangeRef.current?.(next);
        if (next.status === 'connected' && !focusedOnce && autoFocusRef.current) {
          focusedOnce = true;
          term.focus();
        }
      },
    });
    connectionRef.current = connection;

    disposables.push(
      term.onData((data) => {
        if (ctrlRef.current) {
          ctrlRef.current = false;
          setCtrl(false);
          connection.input(withCtrl(data));
        } else {
          connection.input(data);
        }
      }),
      term.onBinary((data) => connection.input(data)),
      term.onResize(({ cols, rows }) => connection.resize(cols, rows)),
      term.onSelectionChange(() => setHasSelection(term.hasSelection())),
    );
    // Ctrl+Shift+C copies the selection (plain Ctrl+C stays the interrupt key); Ctrl+Shift+V is left to the
    // browser, whose paste event xterm handles.
    term.attachCustomKeyEventHandler((event) => {
      if (event.type !== 'keydown' || !event.ctrlKey || !event.shiftKey) return true;
      const key = event.key.toLowerCase();
      if (key === 'c' && term.hasSelection()) {
        void navigator.clipboard?.writeText(term.getSelection());
        return false;
      }
      return key !== 'v';
    });

    const fitNow = () => {
      cancelAnimationFrame(frame);
      frame = requestAnimationFrame(() => {
        if (disposed || host.clientWidth === 0 || host.clientHeight === 0) return;
        fit.fit();
      });
    };

    const start = async () => {
      // Measure glyphs with the real font, not a fallback, or columns come out wrong.
      await document.fonts?.load(`13px ${FONT_FAMILY}`).catch(() => undefined);
      if (disposed) return;
      term.open(host);
      if (rendererRef.current === 'auto' && webglAvailable()) {
        try {
          // The WebGL renderer is its own chunk: browsers without WebGL 2 never download it.
          const { WebglAddon } = await import('@xterm/addon-webgl');
          if (disposed) return;
          const webgl = new WebglAddon();
          disposables.push(webgl.onContextLoss(() => webgl.dispose()));
          term.loadAddon(webgl);
        } catch {
          // The DOM renderer stays in charge; it is slower but works everywhere.
        }
      }
      if (host.clientWidth > 0 && host.clientHeight > 0) fit.fit();
      observer = new ResizeObserver(fitNow);
      observer.observe(host);
      connection.start();
    };
    void start();

    return () => {
      disposed = true;
      cancelAnimationFrame(frame);
      observer?.disconnect();
      for (const d of disposables) d.dispose();
      connection.dispose();
      term.dispose();
      termRef.current = null;
      connectionRef.current = null;
    };
  }, [transport]);

  useEffect(() => {
    readOnlyRef.current = readOnly;
    connectionRef.current?.setReadOnly(readOnly);
  }, [readOnly]);

  useEffect(() => {
    themeRef.current = theme;
    if (termRef.current) termRef.current.options.theme = terminalThemes[theme];
  }, [theme]);

  const status = state?.status ?? 'connecting';
  const writable = status === 'connected' && !state?.readOnly;

  const copy = () => {
    const term = termRef.current;
    if (term?.hasSelection()) void clipboard?.writeText(term.getSelection());
    term?.focus();
  };
  const pressMobileKey = (key: MobileKey) => {
    if (key === 'ctrl') {
      ctrlRef.current = !ctrlRef.current;
      setCtrl(ctrlRef.current);
    } else {
      const bytes = mobileKeyBytes(key, ctrlRef.current);
      ctrlRef.current = false;
      setCtrl(false);
      connectionRef.current?.input(bytes);
    }
    termRef.current?.focus();
  };
  const paste = async () => {
    const term = termRef.current;
    if (!term || !clipboard) return;
    const text = await clipboard.readText().catch(() => '');
    if (text) term.paste(text);
    term.focus();
  };

  return (
    <section
      aria-label={label}
      data-status={status}
      data-readonly={readOnly || status === 'exited'}
      data-testid="terminal"
      className="relative flex min-h-0 flex-1 flex-col"
      style={{ background: terminalThemes[theme].background }}
    >
      <div className="flex h-9 shrink-0 items-center gap-2 border-b border-zinc-200 px-3 dark:border-zinc-800">
        <StatusLine state={state} ended={ended} />
        <div className="ml-auto flex items-center">
          <IconButton
            label="Copy selection"
            icon={<CopyIcon />}
            disabled={!hasSelection || !clipboard}
            onClick={copy}
          />
          <IconButton
            label="Paste into terminal"
            icon={<ClipboardIcon />}
            disabled={!writable || !clipboard?.readText}
            onClick={() => void paste()}
          />
        </div>
      </div>
      <div className="relative min-h-0 flex-1">
        <div ref={hostRef} className="absolute inset-0 py-1.5 pl-2.5" />
        {!ended && <Banner state={state} />}
      </div>
      {showMobileKeys && !readOnly && !ended && <MobileKeys disabled={!writable} ctrl={ctrl} onKey={pressMobileKey} />}
    </section>
  );
}

function StatusLine({ state, ended }: { state: TerminalConnectionState | null; ended: boolean }) {
  const status = state?.status ?? 'connecting';
  let dot = 'bg-zinc-400';
  let text = 'Connecting…';
  if (ended && status !== 'exited' && status !== 'failed') {
    text = 'Task ended · read-only';
  } else if (status === 'connected') {
    dot = state?.agentConnected === false ? 'bg-amber-500' : 'bg-emerald-500';
    text = state?.readOnly ? 'Attached · read-only' : 'Attached';
  } else if (status === 'reconnecting') {
    dot = 'bg-amber-500 animate-pulse';
    text = 'Reconnecting…';
  } else if (status === 'exited') {
    dot = 'bg-zinc-400';
    const code = state?.exit?.exitCode;
    text = code === null || code === undefined ? 'Ended · read-only' : `Exited with code ${code} · read-only`;
  } else if (status === 'failed') {
    dot = 'bg-red-500';
    text = 'Not attached';
  }
  return (
    <p className="flex min-w-0 items-center gap-2 text-xs text-zinc-600 dark:text-zinc-400">
      <span className={`size-1.5 shrink-0 rounded-full ${dot}`} aria-hidden="true" />
      <span className="truncate">{text}</span>
    </p>
  );
}

function Banner({ state }: { state: TerminalConnectionState | null }) {
  if (!state) return null;
  let message: string | null = null;
  let tone = 'bg-amber-50 text-amber-900 ring-amber-200 dark:bg-amber-950/90 dark:text-amber-100 dark:ring-amber-800';
  if (state.status === 'reconnecting' || (state.status === 'connecting' && state.attempt > 0)) {
    message = `Connection lost. Reconnecting${state.attempt > 1 ? ` (attempt ${state.attempt})` : ''}… Typing is paused.`;
  } else if (state.status === 'connected' && !state.agentConnected) {
    message = `${state.agentReason ? `${capitalize(state.agentReason)}. ` : 'The sandbox is reconnecting. '}Output resumes when it is back.`;
  } else if (state.status === 'failed') {
    tone = 'bg-red-50 text-red-800 ring-red-200 dark:bg-red-950/90 dark:text-red-100 dark:ring-red-800';
    message = `Cannot attach to this terminal: ${state.error ?? 'unknown error'}. Reload the page to try again.`;
  }
  if (!message) return null;
  return (
    <div className="pointer-events-none absolute inset-x-0 top-3 z-10 flex justify-center px-3">
      <p
        role="status"
        className={`pointer-events-auto max-w-md rounded-lg px-3 py-2 text-center text-[13px] shadow-lg ring-1 ${tone}`}
      >
        {message}
      </p>
    </div>
  );
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
