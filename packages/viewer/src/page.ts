/** The viewer page: a canvas that fills the window, and the client script. */
export function viewerPage(token: string): string {
  // The token is hex (checked by the server before it gets here), so it is safe inside the attribute.
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>virtio-desktop</title>
<style>
  html, body { margin: 0; height: 100%; background: #111; overflow: hidden; }
  canvas { display: block; width: 100vw; height: 100vh; object-fit: contain; outline: none; touch-action: none; image-rendering: pixelated; }
  #ime { position: fixed; left: 0; top: 0; width: 1px; height: 1px; opacity: 0; border: 0; padding: 0; resize: none; }
  #status { position: fixed; left: 8px; bottom: 8px; color: #aaa; font: 12px sans-serif; pointer-events: none; }
</style>
</head>
<body>
<canvas id="screen" tabindex="0" data-token="${token}"></canvas>
<textarea id="ime" autocomplete="off" autocorrect="off" autocapitalize="off" spellcheck="false" aria-label="keyboard"></textarea>
<div id="status">connecting…</div>
<script src="/viewer.js?token=${token}"></script>
</body>
</html>
`;
}
