/**
 * Node-only helpers of the machine package: module resolution for manifests and reading manifests from
 * disk. Kept out of the main entry so the assembler itself runs in browsers.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ModuleLoader } from './plugins.js';
import { ManifestError, parseManifestText, type Manifest } from './manifest.js';

/**
 * A loader that resolves package names from each of `searchDirs` in turn (the manifest's directory, the
 * current directory, the CLI's own install), and paths relative to `baseDir`. A third-party package
 * installed next to a manifest resolves exactly like ours.
 */
export function nodeModuleLoader(baseDir: string, searchDirs: readonly string[]): ModuleLoader {
  return async (spec) => {
    if (spec.startsWith('./') || spec.startsWith('../') || path.isAbsolute(spec)) {
      return import(pathToFileURL(path.resolve(baseDir, spec)).href);
    }
    let lastErr: unknown = null;
    for (const dir of [baseDir, ...searchDirs]) {
      try {
        const resolved = createRequire(path.join(dir, 'noop.js')).resolve(spec);
        return await import(pathToFileURL(resolved).href);
      } catch (e) {
        lastErr = e;
        if ((e as { code?: string }).code !== 'MODULE_NOT_FOUND') throw e;
      }
    }
    throw lastErr instanceof Error && (lastErr as { code?: string }).code === 'MODULE_NOT_FOUND'
      ? new Error('not installed (npm install it next to the manifest)')
      : lastErr;
  };
}

/** Read and validate a manifest file; every problem becomes a one-line {@link ManifestError}. */
export async function loadManifestFile(file: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ManifestError(
      `${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`,
    );
  }
  return parseManifestText(text, file);
}
