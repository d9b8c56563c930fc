// The account's own vCard (XEP-0054), kept as the serialised <vCard/> element.
import type Database from "better-sqlite3";
import { isForeignKeyViolation, unknownAccount } from "./errors.js";

export class VcardRepo {
  private readonly getStmt: Database.Statement<[string], string>;
  private readonly setStmt: Database.Statement<[string, string]>;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    this.getStmt = db.prepare<[string], string>("SELECT vcard_xml FROM vcards WHERE owner = ?").pluck();
    this.setStmt = db.prepare(
      "INSERT INTO vcards (owner, vcard_xml) VALUES (?, ?) ON CONFLICT (owner) DO UPDATE SET vcard_xml = excluded.vcard_xml",
    );
  }

  get(owner: string): string | undefined {
    return this.getStmt.get(owner);
  }

  /** Sets (or replaces) the vCard. StoreError "not-found" for an unknown account. */
  set(owner: string, vcardXml: string): void {
    this.beforeWrite();
    try {
      this.setStmt.run(owner, vcardXml);
    } catch (err) {
      if (isForeignKeyViolation(err)) throw unknownAccount(owner, err);
      throw err;
    }
  }
}
