/**
 * A kernel that takes nothing, for tests: while holding, writes on this process's TCP handles
 * (but the exempt ones, a test's own clients) are queued in order, as libuv queues them behind a
 * write still pending, and are written only on release(n); a shutdown waits behind them, as
 * uv_shutdown does. install() patches node's TCP handle class; uninstall() restores it.
 */

type Method = 'writeLatin1String' | 'writeUtf8String' | 'writeAsciiString' | 'writeBuffer' | 'writev' | 'shutdown';
interface Request {
  oncomplete(status: number): void;
}
interface Queued {
  method: Method;
  args: unknown[];
  req: Request;
}
type HandleMethod = (this: object, ...args: unknown[]) => number;

const METHODS: Method[] = ['writeLatin1String', 'writeUtf8String', 'writeAsciiString', 'writeBuffer', 'writev', 'shutdown'];
const binding = process as unknown as { binding(name: string): Record<string, unknown> };
const TCP = binding.binding('tcp_wrap').TCP as { prototype: Record<string, unknown> };
const streamWrap = binding.binding('stream_wrap');
const WriteWrap = streamWrap.WriteWrap as new () => Request;
const state = streamWrap.streamBaseState as Int32Array;
const lastWriteWasAsync = streamWrap.kLastWriteWasAsync as number;

const original = new Map<Method, HandleMethod>();
const queues = new Map<object, Queued[]>();
const exempt = new WeakSet<object>();
let holding = false;

export function install(): void {
  for (const method of METHODS) {
    const own = Object.getPrototypeOf(TCP.prototype)[method] as HandleMethod;
    original.set(method, own);
    TCP.prototype[method] = function (this: object, ...args: unknown[]): number {
      const queue = queues.get(this);
      // Nothing queued ahead: a shutdown goes now, and so does a write unless holding.
      const empty = queue === undefined || queue.length === 0;
      if (exempt.has(this) || (empty && (!holding || method === 'shutdown'))) return own.apply(this, args);
      if (queue === undefined) queues.set(this, [{ method, args, req: args[0] as Request }]);
      else queue.push({ method, args, req: args[0] as Request });
      state[lastWriteWasAsync] = 1;
      return 0;
    };
  }
}

export function uninstall(): void {
  for (const method of METHODS) delete TCP.prototype[method];
  holding = false;
  queues.clear();
}

export function hold(on: boolean): void {
  holding = on;
}

/** A test's client: its writes are never held. */
export function exemptSocket(socket: { _handle?: object | null }): void {
  if (socket._handle) exempt.add(socket._handle);
}

/** What is queued on each held handle: its methods, in order. */
export function held(): string[][] {
  return [...queues.values()].map((queue) => queue.map((entry) => entry.method));
}

/** The kernel takes the first `count` queued writes (of every held handle), in order, and each completes. */
export function release(count: number): void {
  for (const [handle, queue] of queues) {
    for (let i = 0; i < count && queue.length > 0; i++) {
      const entry = queue.shift() as Queued;
      const own = original.get(entry.method) as HandleMethod;
      if (entry.method === 'shutdown') {
        own.call(handle, entry.req);
        continue;
      }
      const done = new WriteWrap();
      done.oncomplete = () => undefined;
      const status = own.call(handle, done, ...entry.args.slice(1));
      entry.req.oncomplete.call(entry.req, status);
    }
  }
}
