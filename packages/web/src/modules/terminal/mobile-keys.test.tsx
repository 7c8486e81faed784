import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { MobileKeys, mobileKeyBytes, withCtrl } from './mobile-keys.js';

describe('the phone key row', () => {
  it('sends the bytes a terminal expects for each key', () => {
    expect(mobileKeyBytes('esc', false)).toBe('\x1b');
    expect(mobileKeyBytes('tab', false)).toBe('\t');
    expect(mobileKeyBytes('shift-tab', false)).toBe('\x1b[Z');
    expect(mobileKeyBytes('ctrl-c', false)).toBe('\x03');
    expect(mobileKeyBytes('up', false)).toBe('\x1b[A');
    expect(mobileKeyBytes('down', false)).toBe('\x1b[B');
    expect(mobileKeyBytes('right', false)).toBe('\x1b[C');
    expect(mobileKeyBytes('left', false)).toBe('\x1b[D');
    expect(mobileKeyBytes('left', true)).toBe('\x1b[1;5D');
    expect(mobileKeyBytes('ctrl', false)).toBe('');
  });

  it('turns the next typed key into its control character while Ctrl is held', () => {
    expect(withCtrl('c')).toBe('\x03');
    expect(withCtrl('D')).toBe('\x04');
    expect(withCtrl('[')).toBe('\x1b');
    expect(withCtrl('l')).toBe('\x0c');
    expect(withCtrl('hello')).toBe('hello');
    expect(withCtrl('1')).toBe('1');
  });

  it('shows the sticky Ctrl as pressed and reports taps', () => {
    const onKey = vi.fn();
    render(<MobileKeys disabled={false} ctrl={true} onKey={onKey} />);
    expect(screen.getByRole('button', { name: 'Control (for the next key)' }).getAttribute('aria-pressed')).toBe(
      'true',
    );
    fireEvent.click(screen.getByRole('button', { name: 'Shift-Tab (switch mode)' }));
    expect(onKey).toHaveBeenCalledWith('shift-tab');
  });
});
