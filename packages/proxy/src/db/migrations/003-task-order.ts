/**
 * A creation sequence for tasks. `created_at` alone cannot order tasks created within the same clock tick
 * (PGlite's clock has millisecond resolution), so "newest first" was ambiguous for quick successions.
 */
export const sql = `
ALTER TABLE tasks ADD COLUMN created_order bigserial;
CREATE INDEX tasks_owner_order_idx ON tasks (owner, created_order DESC);
`;
