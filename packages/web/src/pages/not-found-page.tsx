import { Link } from 'react-router';
import { buttonClasses } from '../components/button.js';
import { EmptyState } from '../components/states.js';

export function NotFoundPage() {
  return (
    <div className="flex flex-1 items-center justify-center">
      <EmptyState
        title="There is no page here"
        action={
          <Link to="/" className={buttonClasses('secondary', 'sm')}>
            Go to your tasks
          </Link>
        }
      >
        The address may be mistyped, or the page has moved.
      </EmptyState>
    </div>
  );
}
