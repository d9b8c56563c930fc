import { StoreError, type Store, openStore } from "../../src/store/store.js";
import { account, cleanupTempDirs, tempDir } from "./fixtures.js";

let store: Store;
const ALICE = "alice@a.onion";

beforeEach(() => {
  store = openStore(tempDir());
  store.accounts.create(account("alice", "a.onion"));
});

afterEach(() => {
  store.close();
  cleanupTempDirs();
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof StoreError) return err.code;
    throw err;
  }
  return "no error";
}

describe("KeyRepo", () => {
  test("stores one 32-byte seed per account, replacing the old one", () => {
    expect(store.keys.getOnionSeed(ALICE)).toBeUndefined();
    const first = Buffer.alloc(32, 0xab);
    store.keys.setOnionSeed(ALICE, first);
    expect(store.keys.getOnionSeed(ALICE)).toEqual(first);
    const second = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    store.keys.setOnionSeed(ALICE, second);
    expect(store.keys.getOnionSeed(ALICE)).toEqual(second);
  });

  test("refuses a seed of the wrong length", () => {
    expect(() => store.keys.setOnionSeed(ALICE, Buffer.alloc(31))).toThrow(RangeError);
    expect(() => store.keys.setOnionSeed(ALICE, Buffer.alloc(64))).toThrow(RangeError);
    expect(store.keys.getOnionSeed(ALICE)).toBeUndefined();
  });

  test("an unknown account gives not-found", () => {
    expect(codeOf(() => store.keys.setOnionSeed("bob@b.onion", Buffer.alloc(32)))).toBe("not-found");
    expect(store.keys.getOnionSeed("bob@b.onion")).toBeUndefined();
  });
});

describe("VcardRepo", () => {
  test("get, set and replace", () => {
    expect(store.vcards.get(ALICE)).toBeUndefined();
    store.vcards.set(ALICE, "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>");
    expect(store.vcards.get(ALICE)).toBe("<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>");
    store.vcards.set(ALICE, "<vCard xmlns='vcard-temp'><FN>Alice Ä 🧅</FN></vCard>");
    expect(store.vcards.get(ALICE)).toBe("<vCard xmlns='vcard-temp'><FN>Alice Ä 🧅</FN></vCard>");
  });

  test("an unknown account gives not-found", () => {
    expect(codeOf(() => store.vcards.set("bob@b.onion", "<vCard/>"))).toBe("not-found");
  });
});

describe("SettingsRepo", () => {
  test("get, set, replace and delete", () => {
    expect(store.settings.get("tor.socks")).toBeUndefined();
    store.settings.set("tor.socks", "127.0.0.1:9050");
    store.settings.set("other", "x");
    expect(store.settings.get("tor.socks")).toBe("127.0.0.1:9050");
    store.settings.set("tor.socks", "127.0.0.1:9150");
    expect(store.settings.get("tor.socks")).toBe("127.0.0.1:9150");
    expect(store.settings.delete("tor.socks")).toBe(true);
    expect(store.settings.delete("tor.socks")).toBe(false);
    expect(store.settings.get("tor.socks")).toBeUndefined();
    expect(store.settings.get("other")).toBe("x");
  });
});
