// Group chat through the bridge (joinChat / sendChat / chatUsers / leaveChat, and who comes and
// goes). purple-onion has no chat service, so the room lives on a throwaway Prosody with its muc
// component.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { BridgeEvents } from "../../src/bridge/api.js";
import { joinRoom, occupantsHeard, prepareAccount, signOn, waitOccupant, waitOccupantGone, type BridgeClient } from "../support/bridge-clients.js";
import { startProsody, type ProsodyServer } from "../support/prosody.js";
import { requires } from "../support/requires.js";

/** The room's comings and goings as `c` heard them, in order: "+Nick" (new arrival), "=Nick" (there when we joined), "-Nick". */
function occupancy(c: BridgeClient, room: string): string[] {
  return c.bridge.events.flatMap((e) => {
    if (e.name === "chat-user-joined") {
      const d = e.data as BridgeEvents["chat-user-joined"];
      return d.room === room ? [`${d.newArrival ? "+" : "="}${d.nick}`] : [];
    }
    if (e.name === "chat-user-left") {
      const d = e.data as BridgeEvents["chat-user-left"];
      return d.room === room ? [`-${d.nick}`] : [];
    }
    return [];
  });
}

requires("native", "prosody").describe("libpurple bridge: group chat", () => {
  const root = mkdtempSync(path.join(tmpdir(), "po-bridge-chat-"));
  let prosody: ProsodyServer | undefined;
  let alice: BridgeClient | undefined;
  let bob: BridgeClient | undefined;

  afterAll(async () => {
    await Promise.all([alice?.bridge.stop(), bob?.bridge.stop()]);
    await prosody?.stop();
    rmSync(root, { recursive: true, force: true });
  }, 20_000);

  test("two clients join a room, see each other come and go, and talk in it", async () => {
    prosody = await startProsody({ accounts: ["alice", "bob"], muc: true });
    const server = prosody;
    const account = (name: string) => ({ ...server.accounts[name]!, port: server.port });
    [alice, bob] = await Promise.all([prepareAccount(account("alice"), root, "alice"), prepareAccount(account("bob"), root, "bob")]);
    await Promise.all([signOn(alice), signOn(bob)]);
    const room = `tea@rooms.${server.domain}`;

    // alice creates the room (joinRoom answers prpl-jabber's new-room question with the defaults).
    await joinRoom(alice, room, "Alice");
    expect(await alice.bridge.call("chatUsers", alice.ref, room)).toEqual(["Alice"]);

    await joinRoom(bob, room, "Bob");
    // bob found alice there: both are the room's roll call at his join, not arrivals.
    expect(await bob.bridge.call("chatUsers", bob.ref, room)).toEqual(["Alice", "Bob"]);
    expect(occupancy(bob, room)).toEqual(["=Alice", "=Bob"]);
    await waitOccupant(alice, room, "Bob");
    expect(await alice.bridge.call("chatUsers", alice.ref, room)).toEqual(["Alice", "Bob"]);
    expect(occupantsHeard(alice, room)).toEqual(["Alice", "Bob"]);
    expect(occupancy(alice, room)).toEqual(["=Alice", "+Bob"]);
    const joined = alice.bridge.events.find((e) => e.name === "chat-user-joined" && (e.data as BridgeEvents["chat-user-joined"]).nick === "Bob");
    expect(joined?.data).toEqual({ account: alice.ref, room, nick: "Bob", newArrival: true });

    await alice.bridge.call("sendChat", alice.ref, room, "tea <is> ready & hot");
    const heard = await bob.bridge.waitFor("received-chat", (e) => e.text === "tea <is> ready & hot", 10_000, "bob to hear alice");
    expect(heard).toMatchObject({ room, who: "Alice" });

    // bob leaves: alice sees him go; bob has the room no more (and hears no one leave himself).
    await bob.bridge.call("leaveChat", bob.ref, room);
    await bob.bridge.waitFor("chat-left", (e) => e.room === room, 10_000, "bob out of the room");
    await waitOccupantGone(alice, room, "Bob");
    expect(await alice.bridge.call("chatUsers", alice.ref, room)).toEqual(["Alice"]);
    expect(occupantsHeard(alice, room)).toEqual(["Alice"]);
    expect(occupancy(alice, room)).toEqual(["=Alice", "+Bob", "-Bob"]);
    const left = alice.bridge.events.find((e) => e.name === "chat-user-left");
    expect(left?.data).toEqual({ account: alice.ref, room, nick: "Bob" });
    expect(occupancy(bob, room)).toEqual(["=Alice", "=Bob"]);
    expect(occupantsHeard(bob, room)).toEqual([]);
    await expect(bob.bridge.call("chatUsers", bob.ref, room)).rejects.toThrow(`not in chat room ${room}`);
    await expect(bob.bridge.call("sendChat", bob.ref, room, "still here?")).rejects.toThrow(`not in chat room ${room}`);

    // bob comes back (a second join of the same room), then alice leaves: bob sees her go.
    await joinRoom(bob, room, "Bob");
    await waitOccupant(alice, room, "Bob");
    expect(occupancy(alice, room)).toEqual(["=Alice", "+Bob", "-Bob", "+Bob"]);
    expect(occupancy(bob, room)).toEqual(["=Alice", "=Bob", "=Alice", "=Bob"]);
    await alice.bridge.call("leaveChat", alice.ref, room);
    await waitOccupantGone(bob, room, "Alice");
    expect(await bob.bridge.call("chatUsers", bob.ref, room)).toEqual(["Bob"]);
    expect(occupancy(bob, room)).toEqual(["=Alice", "=Bob", "=Alice", "=Bob", "-Alice"]);

    // The last one out, bob leaves and at once joins again: prpl-jabber drops a join sent before
    // the room confirmed the leave (joinRoom sends it again), and the room, empty, is gone: bob
    // creates it anew.
    await bob.bridge.call("leaveChat", bob.ref, room);
    await joinRoom(bob, room, "Bob");
    expect(await bob.bridge.call("chatUsers", bob.ref, room)).toEqual(["Bob"]);
    // Unlocked by bob's answer to the new-room question, or alice would be refused until joinRoom gave up.
    await joinRoom(alice, room, "Alice");
    await waitOccupant(bob, room, "Alice");
    expect(await bob.bridge.call("chatUsers", bob.ref, room)).toEqual(["Alice", "Bob"]);
    expect(occupancy(bob, room).slice(5)).toEqual(["=Bob", "+Alice"]);

    await expect(bob.bridge.call("chatUsers", bob.ref, `coffee@rooms.${server.domain}`)).rejects.toThrow(`not in chat room coffee@rooms.${server.domain}`);
    await expect(bob.bridge.call("chatUsers", { username: "nobody@example.invalid" }, room)).rejects.toThrow("no such account");
    await expect(bob.bridge.call("joinChat", { username: "nobody@example.invalid" }, room, "x")).rejects.toThrow("no such account");
    // Privacy: at the default level nothing the bridge writes names a room or an occupant.
    for (const c of [alice, bob]) expect(c.bridge.stderr()).not.toMatch(/tea@|Alice|Bob/);
  }, 60_000);
});
