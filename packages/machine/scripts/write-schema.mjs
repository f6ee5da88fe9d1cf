// Writes dist/manifest.schema.json (shipped as @virtio-desktop/machine/manifest.schema.json): the
// manifest's JSON Schema with the options of our device plugins folded in, so that an editor completes
// and checks `options` for each package. Runs after tsup in `pnpm build`.
import { writeFileSync } from 'node:fs';
import { isDevicePlugin } from '@virtio-desktop/virtio-core';
import { manifestJsonSchema } from '../dist/index.js';

const DEVICE_PACKAGES = [
  '@virtio-desktop/virtio-power',
  '@virtio-desktop/virtio-blk',
  '@virtio-desktop/virtio-fb',
  '@virtio-desktop/virtio-net',
  '@virtio-desktop/virtio-input',
  '@virtio-desktop/virtio-console',
];

const plugins = [];
for (const name of DEVICE_PACKAGES) {
  const exported = (await import(name)).default;
  if (isDevicePlugin(exported)) plugins.push({ package: name, plugin: exported });
  else
    for (const [device, plugin] of Object.entries(exported))
      if (isDevicePlugin(plugin)) plugins.push({ package: name, device, plugin });
}
const { version } = JSON.parse(
  (await import('node:fs')).readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
);
const schema = {
  $id: `https://unpkg.com/@virtio-desktop/machine@${version}/dist/manifest.schema.json`,
  title: 'virtio-desktop machine manifest',
  description:
    'What machine to build: memory, harts, CPU, interrupt controller, timer, boot images and virtio devices, each part a plugin package.',
  ...manifestJsonSchema(plugins),
};
writeFileSync(
  new URL('../dist/manifest.schema.json', import.meta.url),
  JSON.stringify(schema, null, 2) + '\n',
);
console.log(`manifest.schema.json: ${plugins.length} device plugins described`);
