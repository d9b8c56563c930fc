// One libpurple bridge in its own process (libpurple runs once per process), driven over the
// Node IPC channel by bridge-process.ts. Messages in: open, call, close. Out: opened, result,
// event, closed. Losing the parent closes the bridge and ends the process.
import type { Bridge, BridgeOptions } from "../../src/bridge/api.js";
import { BRIDGE_EVENT_NAMES } from "../../src/bridge/api.js";
import { openBridge } from "../../src/bridge/purple-bridge.js";

export type ToChild =
  | { type: "open"; options: BridgeOptions }
  | { type: "call"; id: number; method: string; args: unknown[] }
  | { type: "close" };

export type FromChild =
  | { type: "opened"; version: string }
  | { type: "open-failed"; message: string }
  | { type: "result"; id: number; ok: true; value: unknown }
  | { type: "result"; id: number; ok: false; name: string; message: string }
  | { type: "event"; name: string; data: unknown }
  | { type: "closed" };

let bridge: Bridge | undefined;

function send(message: FromChild): void {
  if (process.connected) process.send!(message);
}

function leave(): void {
  send({ type: "closed" });
  // Without the channel nothing holds the loop once the bridge stopped pumping: a clean exit
  // shows that close() really lets Node go.
  if (process.connected) process.disconnect();
}

function closeAndLeave(): void {
  const b = bridge;
  bridge = undefined;
  if (!b) return leave();
  // "closed" comes after the events the quit produced (signed-off…): forward those first.
  b.on("closed", leave);
  try {
    b.close();
  } catch (err) {
    process.stderr.write(`bridge close failed: ${(err as Error).stack}\n`);
    leave();
  }
}

process.on("message", (message: ToChild) => {
  switch (message.type) {
    case "open":
      try {
        bridge = openBridge(message.options);
        for (const name of BRIDGE_EVENT_NAMES) bridge.on(name, (data) => send({ type: "event", name, data }));
        send({ type: "opened", version: bridge.libpurpleVersion });
      } catch (err) {
        send({ type: "open-failed", message: (err as Error).message });
      }
      return;
    case "call": {
      try {
        if (!bridge) throw new Error("the bridge is not open");
        const fn = (bridge as unknown as Record<string, unknown>)[message.method];
        if (typeof fn !== "function" || message.method === "on" || message.method === "off") {
          throw new TypeError(`no such bridge method: ${message.method}`);
        }
        const value = (fn as (...args: unknown[]) => unknown).apply(bridge, message.args);
        send({ type: "result", id: message.id, ok: true, value });
      } catch (err) {
        const e = err as Error;
        send({ type: "result", id: message.id, ok: false, name: e.name, message: e.message });
      }
      return;
    }
    case "close":
      closeAndLeave();
      return;
  }
});

process.on("disconnect", () => {
  if (bridge) {
    bridge.close();
    bridge = undefined;
  }
});
