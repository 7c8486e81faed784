/**
 * Paused sandboxes (issue 12, adr/0025): a hibernated task on a provider that can pause with memory (E2B) keeps
 * its sandbox `paused` instead of `stopped`, so its resume continues it; a stop or a deletion of the task kills it.
 */
export const sql = `
ALTER TABLE sandboxes DROP CONSTRAINT sandboxes_state_check;
ALTER TABLE sandboxes ADD CONSTRAINT sandboxes_state_check
  CHECK (state IN ('starting', 'pooled', 'claimed', 'paused', 'stopped'));
`;
