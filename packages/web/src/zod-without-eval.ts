import { config } from 'zod';

// The server's Content-Security-Policy allows no eval. Unless told not to, zod probes for it (`new Function`)
// when it builds its first object schema, a CSP violation the browser reports, and compiles parsers with it
// where it is allowed. This module is imported before any other, so no schema exists yet.
config({ jitless: true });
