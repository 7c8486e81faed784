import { describe, expect, it } from 'vitest';
import { markerLabel } from './recordings.js';

describe('markerLabel: the timeline events a recording marks', () => {
  it('marks approvals asked and answered, with who answered', () => {
    expect(markerLabel({ type: 'approval_requested', data: { tool: 'Bash', summary: 'Bash npm test' } })).toBe(
      'approval asked: Bash npm test',
    );
    expect(markerLabel({ type: 'approval_answered', data: { decision: 'allow', by: 'ada', timedOut: false } })).toBe(
      'approved by ada',
    );
    expect(markerLabel({ type: 'approval_answered', data: { decision: 'deny', by: null, timedOut: true } })).toBe(
      'approval timed out',
    );
  });

  it('keeps a label on one line without control characters, and skips events that are not landmarks', () => {
    expect(markerLabel({ type: 'tool_use', data: { summary: 'Bash echo\u001b[2J\nhi' } })).toBe('Bash echo [2J hi');
    expect(markerLabel({ type: 'assistant_text', data: { text: 'hello' } })).toBeNull();
  });
});
