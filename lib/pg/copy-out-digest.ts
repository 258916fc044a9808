/**
 * `COPY ... TO STDOUT` hashed as it arrives (`digestCopyOut`), for the restored side of the v4 proof.
 *
 * The server sends every row as its own CopyData message. Read through pg-copy-streams, each message
 * cost JavaScript work and a buffer, and that, not the hash, bounded the comparison (about 1 CPU-s per
 * 276 MiB of rows here, docs/performance.md). Here the connection's socket data goes as it comes into
 * the row hash's WebAssembly module, which gathers the messages' payloads (copy-row-hash.wat,
 * `compactCopyData`) and hashes the rows where they lie. The first message that is not part of the
 * copy (CopyDone, or an ErrorResponse) and everything after it go back to node-postgres, which reads
 * the command's end or its error as for any query. This is how pg-copy-streams itself takes the
 * connection over for a copy (its copy-to.js), with the parsing moved out of JavaScript.
 */
import type { Connection } from 'pg';
import { ArchiveUnreadableError } from '../errors.ts';
import { CopyRowDigest, placeInModule, rowHashModule } from './copy-row-hash.ts';
import type { Session } from './session.ts';

const copyData = 0x64;
const copyDone = 0x63;

/** The hash of the rows `sql` (a `COPY ... TO STDOUT` in text format) sends, with their count. */
export function digestCopyOut(
  session: Session,
  sql: string,
): Promise<{ rows: number; checksum: string; complete: boolean }> {
  return new Promise((resolve, reject) => {
    session.query(new CopyOutDigest(sql, resolve, reject));
  });
}

type Listener = (chunk: Buffer) => void;
interface ConnectionInternals {
  stream: {
    listeners(event: 'data'): Listener[];
    removeListener(event: 'data', listener: Listener): void;
    on(event: 'data', listener: Listener): void;
    destroy(error?: Error): void;
  };
  query(text: string): void;
}

/** A node-postgres submittable (the interface pg-copy-streams implements) that hashes what it copies. */
class CopyOutDigest {
  private readonly digest = new CopyRowDigest();
  private connection: ConnectionInternals | undefined;
  private pgListener: Listener | undefined;
  private readonly ownListener: Listener = (chunk) => {
    try {
      this.receive(chunk);
    } catch (error) {
      // The connection is in the middle of a message no one will read: it cannot be used again.
      this.handleError(error instanceof Error ? error : new Error(String(error)));
      this.connection?.stream.destroy(this.failure);
    }
  };
  private failure: Error | undefined;
  /** Bytes of a message not yet whole (its start; a CopyData's header at most, see `payloadLeft`). */
  private pending: Buffer | undefined;
  /** What is still to come of a CopyData message whose payload goes straight to the digest. */
  private payloadLeft = 0;
  private failed = false;
  private copyEnded = false;

  private readonly text: string;
  private readonly resolve: (result: { rows: number; checksum: string; complete: boolean }) => void;
  private readonly reject: (error: Error) => void;

  constructor(
    text: string,
    resolve: (result: { rows: number; checksum: string; complete: boolean }) => void,
    reject: (error: Error) => void,
  ) {
    this.text = text;
    this.resolve = resolve;
    this.reject = reject;
  }

  submit(connection: Connection): void {
    const internals = connection as unknown as ConnectionInternals;
    this.connection = internals;
    const listeners = internals.stream.listeners('data');
    if (listeners.length !== 1) {
      this.failed = true;
      this.reject(
        new Error(`the connection has ${listeners.length} data listeners, not node-postgres's one`),
      );
      return;
    }
    this.pgListener = listeners[0];
    internals.stream.removeListener('data', this.pgListener as Listener);
    internals.stream.on('data', this.ownListener);
    internals.query(this.text);
  }

  private receive(chunk: Buffer): void {
    let data = chunk;
    if (this.payloadLeft > 0) {
      const taken = Math.min(this.payloadLeft, data.length);
      this.digest.update(data.subarray(0, taken));
      this.payloadLeft -= taken;
      data = data.subarray(taken);
      if (data.length === 0) return;
    }
    if (this.pending) {
      data = Buffer.concat([this.pending, data]);
      this.pending = undefined;
    }
    const module = rowHashModule();
    placeInModule(module, data);
    const next = module.compactCopyData(0, data.length);
    const stopType = module.stopType.value;
    this.digest.updateInModule(module.textEnd.value);
    if (stopType !== 0) {
      // CopyDone is the copy's own: past it, node-postgres reads CommandComplete and ReadyForQuery.
      const handBack = stopType === copyDone && next + 5 <= data.length ? next + 5 : next;
      if (stopType === copyDone) this.copyEnded = true;
      this.detach(data.subarray(handBack));
      return;
    }
    const rest = data.subarray(next);
    if (rest.length >= 5 && rest[0] === copyData) {
      // A row larger than what has come: its payload goes to the digest as it comes.
      const payload = rest.readUInt32BE(1) - 4;
      const here = rest.subarray(5, 5 + payload);
      this.digest.update(here);
      this.payloadLeft = payload - here.length;
    } else if (rest.length > 0) {
      this.pending = Buffer.from(rest);
    }
  }

  /** node-postgres reads the connection again, from `rest` on. */
  private detach(rest: Buffer): void {
    const connection = this.connection;
    const pgListener = this.pgListener;
    if (!connection || !pgListener) return;
    connection.stream.removeListener('data', this.ownListener);
    connection.stream.on('data', pgListener);
    if (rest.length > 0) pgListener(rest);
  }

  handleError(error: Error): void {
    // An error before the copy began (a missing table) or in it: the rest is node-postgres's.
    if (!this.failed) {
      this.failed = true;
      this.failure = error;
      this.reject(error);
    }
  }

  handleCommandComplete(): void {}

  handleReadyForQuery(): void {
    if (this.failed) return;
    if (!this.copyEnded) {
      this.reject(new ArchiveUnreadableError('the server ended the copy without its CopyDone message'));
      return;
    }
    this.resolve(this.digest.finish());
  }
}
