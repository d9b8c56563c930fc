// JIDs (RFC 7622).
import { jid, Jid, normalizeDomainpart, normalizeLocalpart, normalizeResourcepart, parseJid } from "../../src/xmpp/jid.js";

const ONION = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenl5sid.onion";

function parts(s: string) {
  const j = parseJid(s);
  return j === undefined ? undefined : { local: j.local, domain: j.domain, resource: j.resource };
}

describe("parseJid", () => {
  test.each([
    ["example.com", { local: "", domain: "example.com", resource: "" }],
    ["alice@example.com", { local: "alice", domain: "example.com", resource: "" }],
    ["alice@example.com/phone", { local: "alice", domain: "example.com", resource: "phone" }],
    ["example.com/res", { local: "", domain: "example.com", resource: "res" }],
    // RFC 7622 section 3.2: the resource is everything after the first "/", "@" and "/" included.
    ["alice@example.com/a/b@c", { local: "alice", domain: "example.com", resource: "a/b@c" }],
    ["example.com/@", { local: "", domain: "example.com", resource: "@" }],
    ["alice@example.com/my phone", { local: "alice", domain: "example.com", resource: "my phone" }],
    [`alice@${ONION}`, { local: "alice", domain: ONION, resource: "" }],
    [`conference.${ONION}`, { local: "", domain: `conference.${ONION}`, resource: "" }],
    ["alice@localhost", { local: "alice", domain: "localhost", resource: "" }],
    ["alice@127.0.0.1", { local: "alice", domain: "127.0.0.1", resource: "" }],
    ["alice@[::1]/x", { local: "alice", domain: "[::1]", resource: "x" }],
    ["alice@[2001:DB8::1]", { local: "alice", domain: "[2001:db8::1]", resource: "" }],
    ["x,y=z+tag@example.com", { local: "x,y=z+tag", domain: "example.com", resource: "" }],
  ])("%s", (input, expected) => {
    expect(parts(input)).toEqual(expected);
  });

  test("normalization: localpart and domain case-folded, resource case kept", () => {
    expect(parseJid("ALICE@Example.COM/Phone")?.toString()).toBe("alice@example.com/Phone");
  });

  test("normalization: trailing dot of the domain is removed", () => {
    expect(parseJid("alice@example.com./r")?.toString()).toBe("alice@example.com/r");
    expect(parseJid(`${ONION.toUpperCase()}.`)?.domain).toBe(ONION);
  });

  test("normalization: NFKC folds full-width letters in the localpart", () => {
    expect(parseJid("\uFF21\uFF4C\uFF49\uFF43\uFF45@example.com")?.local).toBe("alice");
  });

  test("normalization: localpart and resource end up NFC", () => {
    // "e" + COMBINING ACUTE ACCENT composes to U+00E9.
    const j = parseJid("re\u0301my@example.com/cafe\u0301");
    expect(j?.local).toBe("r\u00E9my");
    expect(j?.resource).toBe("caf\u00E9");
  });

  test("normalization: non-ASCII spaces in the resource become U+0020", () => {
    expect(parseJid("a@example.com/my\u00A0phone")?.resource).toBe("my phone");
  });

  test("internationalized domain labels are accepted", () => {
    expect(parseJid("alice@bücher.example")?.domain).toBe("bücher.example");
    expect(parseJid("alice@BÜCHER.example")?.domain).toBe("bücher.example");
    expect(parseJid("alice@xn--bcher-kva.example")?.domain).toBe("xn--bcher-kva.example");
  });

  test.each([
    ["empty string", ""],
    ["empty localpart", "@example.com"],
    ["empty domain", "alice@"],
    ["empty domain with resource", "alice@/res"],
    ["empty resource", "alice@example.com/"],
    ["only a resource", "/res"],
    ["two @ (localpart would contain @)", "a@b@example.com"],
    ['localpart with "', 'a"b@example.com'],
    ["localpart with &", "a&b@example.com"],
    ["localpart with '", "a'b@example.com"],
    ["localpart with :", "a:b@example.com"],
    ["localpart with <", "a<b@example.com"],
    ["localpart with >", "a>b@example.com"],
    ["localpart with space", "a b@example.com"],
    ["localpart with no-break space", "a\u00A0b@example.com"],
    ["localpart with tab", "a\tb@example.com"],
    ["localpart with NUL", "a\u0000b@example.com"],
    ["localpart with DEL", "a\u007Fb@example.com"],
    ["localpart with line separator", "a\u2028b@example.com"],
    ["resource with NUL", "a@example.com/r\u0000"],
    ["resource with newline", "a@example.com/r\n"],
    ["resource with C1 control", "a@example.com/r\u0085"],
    ["lone surrogate in localpart", "a\uD800@example.com"],
    ["lone surrogate in resource", "a@example.com/\uDC00"],
    ["domain with space", "alice@exa mple.com"],
    ["domain with underscore", "alice@exa_mple.com"],
    ["domain label starting with -", "alice@-example.com"],
    ["domain label ending with -", "alice@example-.com"],
    ["empty domain label", "alice@example..com"],
    ["domain starting with a dot", "alice@.example.com"],
    ["domain of two dots", "alice@example.com.."],
    ["domain that is only a dot", "alice@."],
    ["label over 63 characters", `alice@${"a".repeat(64)}.com`],
    ["IPv6 literal that is not IPv6", "alice@[not::an:ip::]"],
    ["IPv6 without brackets", "alice@::1"],
    ["domain with @ after resource split", "example.com@"],
  ])("invalid: %s", (_why, input) => {
    expect(parseJid(input)).toBeUndefined();
  });

  test("part sizes: 1023 bytes of UTF-8 each, no more", () => {
    expect(parseJid(`${"a".repeat(1023)}@example.com`)).toBeDefined();
    expect(parseJid(`${"a".repeat(1024)}@example.com`)).toBeUndefined();
    // "é" is two bytes: 511 of them plus "a" is 1023 bytes, 512 of them is 1024.
    expect(parseJid(`${"é".repeat(511)}a@example.com`)).toBeDefined();
    expect(parseJid(`${"é".repeat(512)}@example.com`)).toBeUndefined();
    expect(parseJid(`a@example.com/${"r".repeat(1023)}`)).toBeDefined();
    expect(parseJid(`a@example.com/${"€".repeat(342)}`)).toBeUndefined(); // 1026 bytes
    // 16 labels of 63 characters: 16 * 64 - 1 = 1023 bytes.
    const longDomain = Array.from({ length: 16 }, () => "d".repeat(63)).join(".");
    expect(Buffer.byteLength(longDomain)).toBe(1023);
    expect(parseJid(`a@${longDomain}`)).toBeDefined();
    expect(parseJid(`a@x${longDomain}`)).toBeUndefined();
  });

  test("never throws, whatever the input", () => {
    const alphabet = ["a", "@", "/", ".", "-", " ", "\u0000", "\uD800", "é", "[", "]", ":", "A", "\u00A0", "😀", "\u0301"];
    let seed = 12345;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 3000; i++) {
      let s = "";
      const len = next() % 12;
      for (let k = 0; k < len; k++) s += alphabet[next() % alphabet.length];
      expect(() => parseJid(s)).not.toThrow();
      const j = parseJid(s);
      // Whatever parses must print as something that parses back to the same JID.
      if (j !== undefined) expect(parseJid(j.toString())?.equals(j)).toBe(true);
    }
    expect(parseJid(undefined as unknown as string)).toBeUndefined();
    expect(parseJid(42 as unknown as string)).toBeUndefined();
  });
});

describe("Jid", () => {
  test("bare(), isBare(), toString()", () => {
    const full = parseJid("alice@example.com/phone")!;
    expect(full.isBare()).toBe(false);
    expect(full.bare().toString()).toBe("alice@example.com");
    expect(full.bare().isBare()).toBe(true);
    expect(full.bare().bare().equals(full.bare())).toBe(true);
    expect(`${full}`).toBe("alice@example.com/phone");
    expect(parseJid("example.com/r")!.toString()).toBe("example.com/r");
    expect(parseJid("example.com")!.toString()).toBe("example.com");
  });

  test("equals compares normalized parts", () => {
    expect(parseJid("Alice@EXAMPLE.com/r")!.equals(parseJid("alice@example.com./r")!)).toBe(true);
    expect(parseJid("alice@example.com/R")!.equals(parseJid("alice@example.com/r")!)).toBe(false);
    expect(parseJid("alice@example.com")!.equals(parseJid("alice@example.com/r")!)).toBe(false);
    expect(parseJid("alice@example.com")!.equals(parseJid("bob@example.com")!)).toBe(false);
    expect(parseJid("example.com")!.equals(parseJid("example.org")!)).toBe(false);
  });

  test("instances are Jid", () => {
    expect(parseJid("a@b")).toBeInstanceOf(Jid);
  });
});

describe("jid()", () => {
  test("builds and normalizes", () => {
    expect(jid("Alice", "Example.com").toString()).toBe("alice@example.com");
    expect(jid("alice", "example.com", "phone").toString()).toBe("alice@example.com/phone");
    expect(jid("", "example.com").toString()).toBe("example.com");
    expect(jid("alice", ONION).domain).toBe(ONION);
    expect(jid("alice", "example.com", "").isBare()).toBe(true);
  });

  test("throws with the offending parts", () => {
    expect(() => jid("a@b", "example.com")).toThrow(/not a valid JID.*a@b/);
    expect(() => jid("alice", "")).toThrow(/not a valid JID/);
    expect(() => jid("alice", "bad domain")).toThrow(/bad domain/);
    expect(() => jid("alice", "example.com", "r\u0000")).toThrow(/resource/);
  });
});

describe("part normalizers", () => {
  test("normalizeLocalpart", () => {
    expect(normalizeLocalpart("Alice")).toBe("alice");
    expect(normalizeLocalpart("")).toBeUndefined();
    expect(normalizeLocalpart("a/b")).toBeUndefined();
  });
  test("normalizeDomainpart", () => {
    expect(normalizeDomainpart("Example.COM.")).toBe("example.com");
    expect(normalizeDomainpart("")).toBeUndefined();
  });
  test("normalizeResourcepart", () => {
    expect(normalizeResourcepart("Home Phone")).toBe("Home Phone");
    expect(normalizeResourcepart("")).toBeUndefined();
  });
});
