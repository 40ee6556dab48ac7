/**
 * The floor for sending a file from memory on node: `node net-floor.js <port> <root>` loads every
 * regular file of <root> (top level, up to 8 MiB) into a Buffer at start and answers `GET /<name>`
 * with a fixed head and that Buffer, written in one corked pair of writes. No parsing past the
 * request line, no validation, no revalidation, no logging, keep-alive for ever: not a server
 * anyone should run, only what any node program pays (the kernel's copy into the socket, libuv's
 * writes) to send those bytes, next to holdfast's file cache and nginx's sendfile.
 */

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

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
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    pending += text;
    let end: number;
    socket.cork();
    while ((end = pending.indexOf('\r\n\r\n')) !== -1) {
      const line = pending.slice(0, pending.indexOf('\r\n'));
      pending = pending.slice(end + 4);
      const target = line.split(' ')[1] ?? '/';
      const file = files.get(target);
      if (file !== undefined) {
        socket.write(file.head);
        socket.write(file.body);
      } else {
        socket.write(target === '/' ? hello : notFound);
      }
    }
    process.nextTick(() => socket.uncork());
  });
  socket.on('error', () => socket.destroy());
});
server.listen(Number(portArg), '127.0.0.1');
