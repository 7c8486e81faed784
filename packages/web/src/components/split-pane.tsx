import { type KeyboardEvent, type PointerEvent, type ReactNode, useCallback, useRef, useState } from 'react';

export interface SplitPaneProps {
  /** `horizontal`: side by side with a vertical divider; `vertical`: stacked. */
  direction: 'horizontal' | 'vertical';
  /** Share of the first pane, 0 to 1. */
  initialFraction: number;
  /** Smallest share either pane may shrink to. */
  minFraction?: number;
  /** Accessible name of the divider, e.g. "Resize terminal and files". */
  label: string;
  first: ReactNode;
  second: ReactNode;
  /** Remembers the divider position across visits. */
  storage?: Storage | null;
  storageKey?: string;
  className?: string;
}

const KEY_STEP = 0.02;

/**
 * Two panes with a draggable divider. The divider is a focusable `separator`: arrow keys move it, Home and
 * End snap it to the limits.
 */
export function SplitPane({
  direction,
  initialFraction,
  minFraction = 0.15,
  label,
  first,
  second,
  storage = null,
  storageKey,
  className = '',
}: SplitPaneProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const [fraction, setFractionState] = useState(() => {
    const stored = storageKey ? Number(storage?.getItem(storageKey)) : Number.NaN;
    return Number.isFinite(stored) && stored > 0 && stored < 1 ? stored : initialFraction;
  });
  const [dragging, setDragging] = useState(false);
  const horizontal = direction === 'horizontal';

  const setFraction = useCallback(
    (value: number) => {
      const clamped = Math.min(1 - minFraction, Math.max(minFraction, value));
      setFractionState(clamped);
      if (storageKey) storage?.setItem(storageKey, clamped.toFixed(3));
    },
    [minFraction, storage, storageKey],
  );

  const onPointerDown = (event: PointerEvent<HTMLDivElement>) => {
    event.preventDefault();
    event.currentTarget.setPointerCapture(event.pointerId);
    setDragging(true);
  };
  const onPointerMove = (event: PointerEvent<HTMLDivElement>) => {
    if (!dragging || !containerRef.current) return;
    const rect = containerRef.current.getBoundingClientRect();
    const value = horizontal ? (event.clientX - rect.left) / rect.width : (event.clientY - rect.top) / rect.height;
    setFraction(value);
  };
  const onPointerUp = (event: PointerEvent<HTMLDivElement>) => {
    if (event.currentTarget.hasPointerCapture(event.pointerId))
      event.currentTarget.releasePointerCapture(event.pointerId);
    setDragging(false);
  };
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const back = horizontal ? 'ArrowLeft' : 'ArrowUp';
    const forward = horizontal ? 'ArrowRight' : 'ArrowDown';
    if (event.key === back) setFraction(fraction - KEY_STEP);
    else if (event.key === forward) setFraction(fraction + KEY_STEP);
    else if (event.key === 'Home') setFraction(minFraction);
    else if (event.key === 'End') setFraction(1 - minFraction);
    else return;
    event.preventDefault();
  };

  const percent = `${(fraction * 100).toFixed(2)}%`;
  return (
    <div
      ref={containerRef}
      className={`flex min-h-0 min-w-0 flex-1 ${horizontal ? 'flex-row' : 'flex-col'} ${dragging ? 'select-none' : ''} ${className}`}
    >
      <div
        className="flex min-h-0 min-w-0 flex-col overflow-hidden"
        style={{ flexBasis: percent, flexGrow: 0, flexShrink: 0 }}
      >
        {first}
      </div>
      {/* biome-ignore lint/a11y/useSemanticElements: a focusable, movable divider is a separator widget; <hr> cannot take focus or pointer drags */}
      <div
        role="separator"
        tabIndex={0}
        aria-label={label}
        aria-orientation={horizontal ? 'vertical' : 'horizontal'}
        aria-valuemin={Math.round(minFraction * 100)}
        aria-valuemax={Math.round((1 - minFraction) * 100)}
        aria-valuenow={Math.round(fraction * 100)}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={onPointerUp}
        onKeyDown={onKeyDown}
        className={`group relative z-10 flex shrink-0 items-center justify-center touch-none ${
          horizontal ? 'w-1.5 cursor-col-resize' : 'h-1.5 cursor-row-resize'
        } bg-transparent focus-visible:outline-none`}
      >
        <span
          className={`rounded-full transition-colors ${horizontal ? 'h-full w-px' : 'h-px w-full'} ${
            dragging
              ? 'bg-ember-500'
              : 'bg-zinc-200 group-hover:bg-ember-400 group-focus-visible:bg-ember-500 dark:bg-zinc-800'
          }`}
        />
      </div>
      <div className="flex min-h-0 min-w-0 flex-1 flex-col overflow-hidden">{second}</div>
    </div>
  );
}
