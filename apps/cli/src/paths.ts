import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directories package names are resolved from after the manifest's: the cwd, then the CLI's own install. */
export function cliSearchDirs(): string[] {
  return [process.cwd(), cliInstallDir()];
}

/** Where the CLI itself is installed (its node_modules hold the device packages it ships with). */
export function cliInstallDir(): string {
  return path.dirname(fileURLToPath(import.meta.url));
}
