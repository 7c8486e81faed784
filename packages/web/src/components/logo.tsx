/** The rclaude mark: a prompt in an ember square. Decorative; surrounding text names the product. */
export function Logo({ className = 'size-7' }: { className?: string }) {
  return (
    <svg viewBox="0 0 32 32" className={className} aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="8" className="fill-ember-500" />
      <path d="M9 11l6 5-6 5" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
      <path d="M17 22h7" stroke="#fff" strokeWidth="3" strokeLinecap="round" />
    </svg>
  );
}
