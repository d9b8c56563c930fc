// A socket that records what is written to it, for tests of what a stream writes and when.
import { EventEmitter } from "node:events";

export class FakeSocket extends EventEmitter {
  readonly writes: string[] = [];
  destroyed = false;
  writableEnded = false;
  /** What the kernel "has not taken yet": a test raises it to play a peer that stops reading. */
  writableLength = 0;
  setNoDelay(): void {}
  pause(): void {}
  resume(): void {}
  write(data: string): boolean {
    this.writes.push(data);
    return true;
  }
  end(): void {
    this.writableEnded = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}
