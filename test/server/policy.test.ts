// The policy module's budgets for what strangers leave waiting: subscription requests per peer
// server (its onion, subdomains included) and per account.
import { AccountHost } from "../../src/server/account-host.js";
import { mergeLimits } from "../../src/server/limits.js";
import { mergeS2sLimits } from "../../src/server/policy-limits.js";
import { Policy, onionOf } from "../../src/server/policy.js";
import { openStore, type Store } from "../../src/store/store.js";
import { generateOnionSeed, onionAddressFromSeed } from "../../src/tor/onion-address.js";
import { parseJid } from "../../src/xmpp/jid.js";
import { account, cleanupTempDirs, tempDir } from "../store/fixtures.js";

const onion = () => onionAddressFromSeed(generateOnionSeed());
const ours = onion();
const X = onion();
const Y = onion();
let store: Store;
let policy: Policy;
const host = new AccountHost("alice", ours);

beforeEach(() => {
  store = openStore(tempDir());
  store.accounts.create(account("alice", ours));
  policy = new Policy(store, mergeLimits(), mergeS2sLimits({ maxPendingSubscriptionsPerPeer: 3, maxPendingSubscriptions: 5 }));
});
afterEach(() => {
  store.close();
  cleanupTempDirs();
});

const jid = (s: string) => parseJid(s)!;
const pend = (contact: string) => store.roster.putPendingIn(host.bareJid.toString(), contact, `<presence type="subscribe" from="${contact}"/>`);

test("onionOf: an onion and its subdomains belong to it; anything else to none", () => {
  expect(onionOf(X)).toBe(X);
  expect(onionOf(`muc.${X}`)).toBe(X);
  expect(onionOf("example.org")).toBeUndefined();
  expect(onionOf("notanonion.onion")).toBeUndefined();
});

test("pending requests are counted per peer onion, subdomains included", () => {
  pend(`a@${X}`);
  pend(`b@sub1.${X}`);
  pend(`c@sub2.${X}`);
  expect(policy.mayHoldSubscriptionRequest(host, jid(`d@sub3.${X}`))).toBe(false);
  expect(policy.mayHoldSubscriptionRequest(host, jid(`d@${X}`))).toBe(false);
  // A request already waiting may be repeated; another peer has its own budget.
  expect(policy.mayHoldSubscriptionRequest(host, jid(`b@sub1.${X}`))).toBe(true);
  expect(policy.mayHoldSubscriptionRequest(host, jid(`a@${Y}`))).toBe(true);
});

test("and per account, over all peers", () => {
  for (const p of [onion(), onion(), onion(), onion(), onion()]) pend(`u@${p}`);
  expect(policy.mayHoldSubscriptionRequest(host, jid(`a@${Y}`))).toBe(false);
});
