/**
 * The machine's clipboard channel (a virtio-console with the clipboard port, spec/clipboard.md) as the
 * viewer's ClipboardSource. Found by device type and shape, like the input devices, so a machine may
 * load the package from anywhere.
 */
import type { RiscvMachine } from '@virtio-desktop/machine';
import { DeviceId, type VirtioDevice } from '@virtio-desktop/virtio-core';
import type { ClipboardChannel } from '@virtio-desktop/virtio-console';
import type { ClipboardSource } from '@virtio-desktop/viewer';

function channelOf(d: VirtioDevice): ClipboardChannel | null {
  if (d.deviceId !== DeviceId.Console) return null;
  const c = (d as unknown as { clipboard?: unknown }).clipboard;
  if (typeof c !== 'object' || c === null) return null;
  const m = c as Record<string, unknown>;
  return typeof m.setText === 'function' && typeof m.on === 'function' && typeof m.off === 'function'
    ? (c as ClipboardChannel)
    : null;
}

/** The first clipboard channel of the machine, or null when it has none. */
export function machineClipboard(
  machine: RiscvMachine,
): (ClipboardSource & { channel: ClipboardChannel }) | null {
  for (const { device } of machine.devices) {
    const channel = channelOf(device);
    if (!channel) continue;
    return {
      channel,
      setText: (text) => void channel.setText(text),
      onText(cb) {
        channel.on('text', cb);
        return () => void channel.off('text', cb);
      },
    };
  }
  return null;
}
