/**
 * The checkpoint sweeper's lease: one row. A proxy sweeps only after moving `claimed_until` forward from the
 * past (`UPDATE … WHERE claimed_until < now() RETURNING`), so one proxy at a time sweeps; `holder` is its id.
 */
export const sql = `
CREATE TABLE checkpoint_sweep_lease (
  id smallint PRIMARY KEY CHECK (id = 1),
  claimed_until timestamptz NOT NULL,
  holder text
);
INSERT INTO checkpoint_sweep_lease (id, claimed_until) VALUES (1, '-infinity');
`;
