import { ansiStyle, plainStyle, taskEventText } from '@rclaude/client';
import type { AgentTaskEvent } from '@rclaude/protocol';

/**
 * How a prompt task's event reads in its terminal (what `rclaude attach` and `rclaude logs` show): the one
 * task-event renderer of @rclaude/client, which `rclaude run -p` uses too. '' for events that add nothing.
 * The agent does not know the task's id, so a diff's line names the diff's path in the workspace.
 */
export function renderEvent(event: AgentTaskEvent, opts: { color: boolean }): string {
  return taskEventText(event, { style: opts.color ? ansiStyle : plainStyle });
}
