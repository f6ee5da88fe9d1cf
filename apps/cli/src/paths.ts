import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directories package names are resolved from after the manifest's: the cwd, then the CLI's own install. */
export function cliSearchDirs(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return [process.cwd(), here];
}
