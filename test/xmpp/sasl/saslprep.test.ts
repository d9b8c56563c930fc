// SASLprep (RFC 4013), including the examples of its section 3.
import { saslprep } from "../../../src/xmpp/sasl/saslprep.js";

test.each([
  ["I\u00ADX", "IX"], // SOFT HYPHEN mapped to nothing
  ["user", "user"], // no transformation
  ["USER", "USER"], // case preserved, will not match "user"
  ["\u00AA", "a"], // output is NFKC, input in ISO 8859-1
  ["\u2168", "IX"], // output is NFKC, will match "IX"
])("RFC 4013 section 3 example: %j -> %j", (input, output) => {
  expect(saslprep(input)).toBe(output);
});

test("RFC 4013 section 3 example: U+0007 is prohibited", () => {
  expect(saslprep("\u0007")).toBeUndefined();
});

test("non-ASCII spaces become U+0020; zero-width characters disappear", () => {
  expect(saslprep("a\u00A0b\u3000c")).toBe("a b c");
  expect(saslprep("a\u200Bb\uFEFFc")).toBe("abc");
});

test.each([
  ["empty", ""],
  ["only mapped-to-nothing characters", "\u00AD\u200B"],
  ["NUL", "a\u0000b"],
  ["DEL", "a\u007Fb"],
  ["C1 control", "a\u0085b"],
  ["line separator", "a\u2028b"],
  ["private use", "a\uE000b"],
  ["plane 15 private use", "a\u{F0001}b"],
  ["non-character", "a\uFFFEb"],
  ["lone surrogate", "a\uD800b"],
  ["replacement character", "a\uFFFDb"],
  ["ideographic description", "a\u2FF0b"],
  ["bidi override", "a\u202Eb"],
  ["language tag", "a\u{E0001}b"],
])("prohibited: %s", (_why, input) => {
  expect(saslprep(input)).toBeUndefined();
});

test("ordinary non-ASCII text and surrogate pairs pass", () => {
  expect(saslprep("pässwörd😀")).toBe("pässwörd😀");
});
