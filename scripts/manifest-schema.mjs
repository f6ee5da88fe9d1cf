// Writes docs/manifest.schema.json from the zod schema in packages/machine (run after pnpm build).
import { writeFileSync } from 'node:fs';
import { manifestJsonSchema } from '../packages/machine/dist/index.js';

writeFileSync(
  new URL('../docs/manifest.schema.json', import.meta.url),
  JSON.stringify(manifestJsonSchema(), null, 2) + '\n',
);
