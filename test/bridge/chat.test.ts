// Group chat through the bridge (joinChat / sendChat / leaveChat). purple-onion has no chat
// service, so the room lives on a throwaway Prosody with its muc component.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { prepareAccount, signOn, type BridgeClient } from "../support/bridge-clients.js";
import { startProsody, type ProsodyServer } from "../support/prosody.js";
import { requires } from "../support/requires.js";

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

  test("two clients join a room, talk in it, and one leaves", async () => {
    prosody = await startProsody({ accounts: ["alice", "bob"], muc: true });
    const server = prosody;
    const account = (name: string) => ({ ...server.accounts[name]!, port: server.port });
    [alice, bob] = await Promise.all([prepareAccount(account("alice"), root, "alice"), prepareAccount(account("bob"), root, "bob")]);
    await Promise.all([signOn(alice), signOn(bob)]);
    const room = `tea@rooms.${server.domain}`;

    await alice.bridge.call("joinChat", alice.ref, room, "Alice");
    await alice.bridge.waitFor("chat-joined", (e) => e.room === room, 10_000, "alice in the room");
    // A new room stays locked until its owner configures it: prpl-jabber asks (an action request).
    const create = await alice.bridge.waitFor("request", (r) => r.kind === "action" && (r.choices ?? []).includes("_Accept Defaults"), 10_000, "the new-room question");
    await alice.bridge.call("answerRequest", create.id, create.choices!.indexOf("_Accept Defaults"));
    await bob.bridge.call("joinChat", bob.ref, room, "Bob");
    await bob.bridge.waitFor("chat-joined", (e) => e.room === room, 10_000, "bob in the room");

    await alice.bridge.call("sendChat", alice.ref, room, "tea <is> ready & hot");
    const heard = await bob.bridge.waitFor("received-chat", (e) => e.text === "tea <is> ready & hot", 10_000, "bob to hear alice");
    expect(heard).toMatchObject({ room, who: "Alice" });

    await bob.bridge.call("leaveChat", bob.ref, room);
    await bob.bridge.waitFor("chat-left", (e) => e.room === room, 10_000, "bob out of the room");
    await expect(bob.bridge.call("sendChat", bob.ref, room, "still here?")).rejects.toThrow(`not in chat room ${room}`);
    await expect(bob.bridge.call("joinChat", { username: "nobody@example.invalid" }, room, "x")).rejects.toThrow("no such account");
  }, 40_000);
});
