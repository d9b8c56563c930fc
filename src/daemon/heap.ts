// The daemon's V8 heap settings. The daemon runs all day beside Pidgin and is
// idle nearly all of that time, so what it keeps resident after a busy moment
// matters. `serve` applies these to its own process: node flags would need a
// re-exec (two processes), and --max-semi-space-size cannot change once the
// heap is set up. bench/README.md ("Memory") has the measurements.
//
//  * The young generation stays at V8's initial size (1 MB semi-spaces). V8
//    doubles it, up to 16 MB semi-spaces, whenever much survives a scavenge,
//    and gives it back only when its memory reducer runs (~20 s of quiet).
//    V8 raises a --semi-space-growth-factor below 2 given on the command line
//    to 2; set at run time, a factor of 1 means "never grow". With output
//    flushed every 16 KB (server/c2s-session.ts) little survives a scavenge,
//    and throughput is unchanged.
//  * No optimizing compiler until the daemon has real work: loading its
//    modules makes node's own module resolver hot, and one TurboFan compilation
//    pages in ~3.5 MB of compiler code (file-backed, shared with every node
//    process) for that alone; after start, a few logins are enough to push a
//    small node-internal wrapper (validators' `wrappedFn`) over the threshold.
//    A daemon beside Pidgin handles a few stanzas a minute, which the
//    interpreter and baseline compiler do in microseconds; TurboFan comes on
//    the first time the event loop is busy for a quarter of a second in a
//    one-second sample (a burst, a benchmark), and stays on.
//  * An idle collection: a burst still promotes some short-lived objects to
//    the old generation, and V8 collects that garbage only when it next needs
//    room or when its memory reducer runs. Once the heap has grown and the
//    event loop has been quiet for two seconds, one full, compacting
//    collection (a few ms) returns it.
import { performance, type EventLoopUtilization } from "node:perf_hooks";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";

/** First thing in `serve`, before any other module is imported. */
export function tuneHeapBeforeLoading(): void {
  v8.setFlagsFromString("--semi-space-growth-factor=1");
  v8.setFlagsFromString("--no-opt");
}

/** The daemon has real work: hot code is optimized from now on. */
export function enableOptimizer(): void {
  v8.setFlagsFromString("--opt");
}

export interface IdleCollectorOptions {
  /** How often the heap and the event loop are looked at. */
  intervalMs: number;
  /** Collect once the heap has grown this much since the last collection... */
  growthBytes: number;
  /** ...and the event loop was busy less than this share of each of the last `quietTicks` intervals. */
  quietUtilization: number;
  quietTicks: number;
  /** Called once, the first time an interval was busy at least this share of the time. */
  busyUtilization: number;
}

export const DEFAULT_IDLE_COLLECTOR: IdleCollectorOptions = {
  intervalMs: 1000,
  growthBytes: 4 * 1024 * 1024,
  quietUtilization: 0.02,
  quietTicks: 2,
  busyUtilization: 0.25,
};

/**
 * A full, compacting collection, without --expose-gc on the command line: the gc
 * extension is installed in contexts created while the flag is set, so a
 * throwaway context lends its gc(); keeping it would cost the context's memory.
 * Without compaction the survivors stay spread over the pages the burst filled,
 * and V8 keeps those pages.
 */
export function collectAndCompact(): void {
  v8.setFlagsFromString("--expose-gc");
  let gc: unknown;
  try {
    gc = runInNewContext("typeof gc === 'function' ? gc : undefined");
  } finally {
    v8.setFlagsFromString("--no-expose-gc");
  }
  if (typeof gc !== "function") return; // a node that ignores the flag: V8 collects on its own schedule
  v8.setFlagsFromString("--compact-on-every-full-gc");
  try {
    gc();
  } finally {
    v8.setFlagsFromString("--no-compact-on-every-full-gc");
  }
}

/** What the collector reads and does; tests give their own so that V8 collecting on its own schedule cannot race them. */
export interface HeapGauges {
  heapSize(): number;
  collect(): void;
}

export const V8_HEAP: HeapGauges = {
  heapSize: () => v8.getHeapStatistics().total_heap_size,
  collect: collectAndCompact,
};

export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;
  private lastElu: EventLoopUtilization = performance.eventLoopUtilization();
  private baseline: number;
  private quiet = 0;
  /** Collections done so far. */
  collections = 0;
  private wasBusy = false;

  constructor(
    private readonly options: IdleCollectorOptions = DEFAULT_IDLE_COLLECTOR,
    /** The first busy interval (see busyUtilization). */
    private readonly onFirstBusy: () => void = () => undefined,
    private readonly heap: HeapGauges = V8_HEAP,
  ) {
    this.baseline = heap.heapSize();
  }

  start(): void {
    // unref: this timer alone must not keep the daemon alive.
    this.timer ??= setInterval(() => this.tick(), this.options.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const elu = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(elu, this.lastElu).utilization;
    this.lastElu = elu;
    if (!this.wasBusy && busy >= this.options.busyUtilization) {
      this.wasBusy = true;
      this.onFirstBusy();
    }
    this.quiet = busy < this.options.quietUtilization ? this.quiet + 1 : 0;
    const size = this.heap.heapSize();
    // The heap shrank by itself (V8 collected): that is the new reference.
    if (size < this.baseline) this.baseline = size;
    if (this.quiet < this.options.quietTicks || size < this.baseline + this.options.growthBytes) return;
    this.heap.collect();
    this.collections++;
    this.baseline = this.heap.heapSize();
  }
}
