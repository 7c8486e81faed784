/**
 * Reassembles an offset-numbered byte stream: drops what was already seen, trims overlaps, and reports
 * gaps. Used by every consumer of PTY output (CLI, web, tests) so "nothing lost, nothing doubled" is
 * decided in one place.
 */
export class OffsetAssembler {
  /** The next byte offset expected. */
  next: number;

  constructor(start = 0) {
    this.next = start;
  }

  /**
   * Offers a chunk that starts at `offset`. Returns the part not seen before (possibly empty), or
   * `'gap'` when bytes between `next` and `offset` are missing (the caller re-requests from `next`).
   */
  accept(offset: number, data: Uint8Array): Uint8Array | 'gap' {
    if (offset > this.next) return 'gap';
    const end = offset + data.byteLength;
    if (end <= this.next) return data.subarray(0, 0);
    const fresh = data.subarray(this.next - offset);
    this.next = end;
    return fresh;
  }
}
