import { type ThemePreference, useTheme } from '../modules/theme/theme.js';
import { MonitorIcon, MoonIcon, SunIcon } from './icons.js';

const options: { value: ThemePreference; label: string; icon: typeof SunIcon }[] = [
  { value: 'system', label: 'System theme', icon: MonitorIcon },
  { value: 'light', label: 'Light theme', icon: SunIcon },
  { value: 'dark', label: 'Dark theme', icon: MoonIcon },
];

/** Three-way switch: follow the system, or force light or dark. */
export function ThemeSwitcher() {
  const { preference, setPreference } = useTheme();
  return (
    <fieldset className="inline-flex items-center gap-0.5 rounded-lg border border-zinc-200 bg-white p-0.5 dark:border-zinc-800 dark:bg-zinc-900">
      <legend className="sr-only">Theme</legend>
      {options.map(({ value, label, icon: Icon }) => (
        <button
          key={value}
          type="button"
          aria-label={label}
          aria-pressed={preference === value}
          title={label}
          onClick={() => setPreference(value)}
          className={`flex size-7 items-center justify-center rounded-md transition-colors ${
            preference === value
              ? 'bg-zinc-100 text-zinc-900 dark:bg-zinc-800 dark:text-zinc-100'
              : 'text-zinc-500 hover:text-zinc-800 dark:text-zinc-500 dark:hover:text-zinc-200'
          }`}
        >
          <Icon className="size-3.5" />
        </button>
      ))}
    </fieldset>
  );
}
