/** WebSocket test steps shared by the upgrade and proxy-tunnel tests (the `ws` package as client). */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type WebSocket from 'ws';

/** Sends `count` text messages, asserts they all come back in order, then closes cleanly (code 1000). */
export async function echoThenClose(client: WebSocket, count = 1000): Promise<void> {
  const received: string[] = [];
  const all = new Promise<void>((resolve) =>
    client.on('message', (data) => {
      received.push(String(data));
      if (received.length === count) resolve();
    }),
  );
  for (let i = 0; i < count; i++) client.send(`message ${i}`);
  await all;
  assert.deepEqual(received, Array.from({ length: count }, (_, i) => `message ${i}`));
  client.close(1000, 'done');
  const [code] = (await once(client, 'close')) as [number];
  assert.equal(code, 1000);
}
