/**
 * A creation sequence for sandboxes, for the same reason as 003: `created_at` cannot order two sandboxes
 * of one task created within the same clock tick, so "the newest sandbox of a task" was ambiguous.
 */
export const sql = `
ALTER TABLE sandboxes ADD COLUMN created_order bigserial;
`;
