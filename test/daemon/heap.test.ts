// The daemon's idle collection (src/daemon/heap.ts): one full collection once the
// heap has grown and the event loop has been quiet, and no gc() left behind.
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { collectAndCompact, IdleCollector } from "../../src/daemon/heap.js";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test("a collection works without --expose-gc and does not leave gc() exposed", () => {
  expect(typeof (globalThis as { gc?: unknown }).gc).toBe("undefined");
  collectAndCompact();
  expect(runInNewContext("typeof gc")).toBe("undefined");
});

test("the collector collects once after the heap grew and the loop went quiet, not before", async () => {
  const collector = new IdleCollector({ intervalMs: 25, growthBytes: 2 * 1024 * 1024, quietUtilization: 0.5, quietTicks: 2, busyUtilization: 2 });
  collector.start();
  try {
    await sleep(150);
    expect(collector.collections).toBe(0); // quiet, but the heap did not grow
    let garbage: object[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `item ${i}` }));
    const grown = v8.getHeapStatistics().total_heap_size;
    garbage = undefined;
    for (let waited = 0; collector.collections === 0 && waited < 5000; waited += 25) await sleep(25);
    expect(garbage).toBeUndefined();
    expect(collector.collections).toBe(1);
    expect(v8.getHeapStatistics().total_heap_size).toBeLessThan(grown);
    await sleep(150);
    expect(collector.collections).toBe(1); // nothing new to collect
  } finally {
    collector.stop();
  }
});

test("the first busy interval is reported once (the daemon turns the optimizing compiler on then)", async () => {
  let busy = 0;
  const collector = new IdleCollector({ intervalMs: 50, growthBytes: Infinity, quietUtilization: 0, quietTicks: 1, busyUtilization: 0.5 }, () => busy++);
  collector.start();
  try {
    await sleep(200);
    expect(busy).toBe(0); // idle
    for (let round = 0; round < 2; round++) {
      const until = Date.now() + 200;
      while (Date.now() < until) {
        // a busy loop: the event loop does nothing else for 200 ms
      }
      await sleep(120);
    }
    expect(busy).toBe(1);
  } finally {
    collector.stop();
  }
});
