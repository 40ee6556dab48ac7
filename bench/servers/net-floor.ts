/**
 * The floor of a node:net server: `node net-floor.js <port> <root>` loads every regular file of
 * <root> (top level, up to 8 MiB) into a Buffer at start and answers `GET /<name>` with a fixed
 * head and that Buffer, `GET /` with a fixed hello, in one write per read (a corked pair for a
 * file). Reads land in the shared buffer holdfast uses (node's `onread`, shared-read.ts), the
 * cheapest read node offers, and a lone write goes straight to the TCP handle as holdfast's do
 * (direct-write.ts), the cheapest write. No parsing past the request line, no validation, no revalidation, no
 * logging, keep-alive for ever: not a server anyone should run, only what any node program pays
 * (the kernel's copies, libuv's reads and writes) to answer those requests — next to holdfast's
 * file cache and nginx's sendfile, and beside node:http on keep-alive hello.
 */

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { writeBufferDirect, type DirectWriteOwner } from '../../src/server/direct-write.js';
import { readIntoSharedBuffer } from '../../src/server/shared-read.js';

const [portArg, root] = process.argv.slice(2);
if (portArg === undefined || root === undefined) {
  process.stderr.write('usage: net-floor.js <port> <root>\n');
  process.exit(2);
}

const MAX_FILE_BYTES = 8 * 1024 * 1024;
const files = new Map<string, { head: Buffer; body: Buffer }>();
for (const name of fs.readdirSync(root)) {
  const file = path.join(root, name);
  const stats = fs.statSync(file);
  if (!stats.isFile() || stats.size > MAX_FILE_BYTES) continue;
  const body = fs.readFileSync(file);
  files.set(`/${name}`, { head: Buffer.from(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body });
}
const hello = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!', 'latin1');
const notFound = Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\nnot found\n', 'latin1');

const server = net.createServer((socket) => {
  let pending = '';
  const owner: DirectWriteOwner = { socket, directWriteDone: () => undefined };
  const answer = (text: string): void => {
    pending += text;
    let first: Buffer | null = null;
    let corked = false;
    const send = (bytes: Buffer): void => {
      if (first === null) {
        first = bytes;
        return;
      }
      if (!corked) {
        corked = true;
        socket.cork();
        socket.write(first);
      }
      socket.write(bytes);
    };
    let end: number;
    while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
      const sp = pending.indexOf(' ');
      const target = pending.slice(sp + 1, pending.indexOf(' ', sp + 1));
      pending = pending.slice(end + 4);
      const file = files.get(target);
      if (file !== undefined) {
        send(file.head);
        send(file.body);
      } else {
        send(target === '/' ? hello : notFound);
      }
    }
    if (corked) socket.uncork();
    else if (first !== null && writeBufferDirect(owner, first) === null) socket.write(first);
  };
  if (!readIntoSharedBuffer(socket, (nread, bytes) => answer(bytes.toString('latin1', 0, nread)))) {
    socket.setEncoding('latin1');
    socket.on('data', answer);
  }
  socket.on('error', () => socket.destroy());
});
server.listen(Number(portArg), '127.0.0.1');
