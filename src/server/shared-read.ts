/**
 * Socket reads into one shared buffer. node's `net.Socket` has an `onread` option for this (reads
 * land in a caller's buffer and go to a callback, skipping the Readable stream's push/'data'
 * machinery and a fresh 64 KiB allocation per read), but `net.Server` offers no way to pass it for
 * accepted sockets. This module finds the two slots that option fills (by probing a socket built
 * with it) and fills them on accepted sockets, then points the handle at the shared buffer.
 *
 * Contract: the callback gets the bytes only for the duration of the call (the next read of any
 * socket overwrites them) and must copy what it keeps. pause()/resume() keep working (they stop and
 * start the handle in this mode); EOF and errors still arrive as 'end'/'error'. Where the probe
 * fails (another node version) or HOLDFAST_READ_EVENTS=1 is set, nothing is installed and the
 * caller keeps using 'data' events.
 */

import net from 'node:net';

/** Returning false stops reading (node's onread contract), as a Readable's push() does. */
export type SharedReadCallback = (this: net.Socket, nread: number, bytes: Buffer) => void | boolean;

interface Slots {
  buffer: symbol;
  callback: symbol;
}

type Slotted = net.Socket & Record<symbol, unknown> & { _handle?: { useUserBuffer?: (buffer: Uint8Array) => void } | null };

function probeSlots(): Slots | null {
  try {
    const buffer = Buffer.alloc(1);
    const callback = (): void => undefined;
    const options = { onread: { buffer, callback } } as net.SocketConstructorOpts; // documented for net.connect; the constructor takes it too
    const probe = new net.Socket(options) as Slotted;
    let slots: Partial<Slots> = {};
    for (const key of Object.getOwnPropertySymbols(probe)) {
      if (probe[key] === buffer) slots = { ...slots, buffer: key };
      else if (probe[key] === callback) slots = { ...slots, callback: key };
    }
    probe.destroy();
    return slots.buffer !== undefined && slots.callback !== undefined ? (slots as Slots) : null;
  } catch {
    return null;
  }
}

const SLOTS: Slots | null = process.env.HOLDFAST_READ_EVENTS === '1' ? null : probeSlots();
/** node's read size, and the shared read buffer's: a read this long may not have drained the socket. */
export const READ_BUFFER_BYTES = 65_536;
const SHARED = Buffer.allocUnsafe(READ_BUFFER_BYTES);

/** True when `socket` now reads into the shared buffer and calls `callback`; false: use 'data'. */
export function readIntoSharedBuffer(socket: net.Socket, callback: SharedReadCallback): boolean {
  if (SLOTS === null) return false;
  const slotted = socket as Slotted;
  const handle = slotted._handle;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
  slotted[SLOTS.buffer] = SHARED;
  slotted[SLOTS.callback] = callback;
  handle.useUserBuffer(SHARED);
  return true;
}

/** Whether accepted sockets read into the shared buffer in this process. */
export const sharedReadAvailable = SLOTS !== null;

/** Copies a shared-buffer read into the socket's own stream: it then reads as any socket does. */
const forwardToStream: SharedReadCallback = function (nread, bytes) {
  return this.push(Buffer.from(bytes.subarray(0, nread)));
};

/**
 * For a socket leaving its reader (an upgrade): reads still land in the shared buffer (the handle
 * cannot switch back), but are copied and pushed into the socket's Readable, so its new owner
 * sees ordinary 'data' events with backpressure (push() returning false stops reading).
 */
export function forwardSharedReads(socket: net.Socket): void {
  if (SLOTS === null) return;
  const slotted = socket as Slotted;
  if (slotted[SLOTS.callback] !== undefined && slotted[SLOTS.callback] !== null) slotted[SLOTS.callback] = forwardToStream;
}
