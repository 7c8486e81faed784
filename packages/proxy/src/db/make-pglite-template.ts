/**
 * The proxy's build step after `tsc`: writes the PGlite template a new embedded database starts from
 * (see pglite-template.ts), unless the one for this PGlite version is already there.
 */
import { access } from 'node:fs/promises';
import { makePgliteTemplate, pgliteTemplatePath } from './pglite-template.js';

const file = pgliteTemplatePath();
const present = await access(file).then(
  () => true,
  () => false,
);
if (!present) await makePgliteTemplate(file);
