// The real durable outbox (S2sOutbox with a store) behind the S2sManager: a message is a row in
// the sender's unit, goes out once the pair's stream is authenticated, and leaves the table when
// the peer answers the receipt ping (which arrives on the peer's own stream, not the one it left on).
import { silentLogger } from "../../src/daemon/logger.js";
import { S2sOutbox } from "../../src/s2s/outbox.js";
import type { S2sOutboxPort } from "../../src/s2s/s2s-manager.js";
import { UnitsOfWork } from "../../src/server/unit-of-work.js";
import { openStore, type Store } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir } from "../store/fixtures.js";
import { message, newOnion, World } from "./s2s-fixture.js";

const A = newOnion();
const B = newOnion();
let world: World;
let store: Store;

afterEach(async () => {
  await world.close();
  store.close();
  cleanupTempDirs();
});

test("a message is stored, delivered over dialback and deleted once the peer confirmed it", async () => {
  world = new World();
  store = openStore(tempDir());
  store.accounts.create(account("alice", A));
  let outbox: S2sOutbox | undefined;
  const x = await world.side([A], {}, (routing, manager) => {
    outbox = new S2sOutbox({
      store,
      units: new UnitsOfWork(store, silentLogger()),
      log: silentLogger(),
      needConnection: (l, r) => manager().needConnection(l, r),
      expired: (unit, _l, _r, stanza, reason) => routing.bounce(unit, stanza, "remote-server-timeout", reason),
    });
    const port: S2sOutboxPort = outbox;
    return port;
  });
  const y = await world.side([B]);
  // The router's unit is the store's unit: the row commits with it.
  const units = new UnitsOfWork(store, silentLogger());
  units.run((unit) => x.manager.send(unit, message(`alice@${A}/pc`, `bob@${B}`, "durable hello"), A, B));
  await y.routing.until(() => y.routing.received.some((r) => r.stanza.is("message")), 5000, "the message at Y");
  const got = y.routing.received.find((r) => r.stanza.is("message"))!;
  expect(got.stanza.attrs.xmlns).toBe("jabber:server");
  expect(got.stanza.getChildText("body")).toBe("durable hello");
  await y.routing.until(() => store.outbox.count(A, B) === 0, 5000, "the row deleted after the receipt ping");
  expect(x.routing.bounces).toEqual([]);
  outbox!.close();
});
