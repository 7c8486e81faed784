import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { StatusBadge } from './status-badge.js';

describe('StatusBadge', () => {
  it('shows the label, carries the raw status, and pulses only while the task can change', () => {
    const { container, rerender } = render(<StatusBadge status="running" />);
    expect(screen.getByText('Running')).toBeTruthy();
    expect(container.querySelector('[data-status="running"]')).not.toBeNull();
    expect(container.querySelector('.animate-ping')).not.toBeNull();

    rerender(<StatusBadge status="succeeded" />);
    expect(screen.getByText('Succeeded')).toBeTruthy();
    expect(container.querySelector('[data-status="succeeded"]')).not.toBeNull();
    expect(container.querySelector('.animate-ping')).toBeNull();
  });

  it('uses distinct colours for success and failure', () => {
    const { container: ok } = render(<StatusBadge status="succeeded" />);
    const { container: bad } = render(<StatusBadge status="failed" />);
    const okClass = ok.querySelector('[data-status]')?.className ?? '';
    const badClass = bad.querySelector('[data-status]')?.className ?? '';
    expect(okClass).toContain('emerald');
    expect(badClass).toContain('red');
  });

  it('says when Claude Code waits for input', () => {
    render(<StatusBadge status="running" activity="waiting" />);
    expect(screen.getByText('Needs input')).toBeTruthy();
  });
});
