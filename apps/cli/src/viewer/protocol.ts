// Moved to @virtio-desktop/viewer; kept so the CLI's modules import it from one place.
export * from '@virtio-desktop/viewer';
