// Runtime-wide key/value settings (not per account).
import type Database from "better-sqlite3";

export class SettingsRepo {
  private readonly getStmt: Database.Statement<[string], string>;
  private readonly setStmt: Database.Statement<[string, string]>;
  private readonly deleteStmt: Database.Statement<[string]>;

  /** `beforeWrite` runs before every write: it begins the open unit's transaction (deferred-transaction.ts). */
  constructor(
    db: Database.Database,
    private readonly beforeWrite: () => void = () => undefined,
  ) {
    this.getStmt = db.prepare<[string], string>("SELECT value FROM settings WHERE key = ?").pluck();
    this.setStmt = db.prepare(
      "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    this.deleteStmt = db.prepare("DELETE FROM settings WHERE key = ?");
  }

  get(key: string): string | undefined {
    return this.getStmt.get(key);
  }

  set(key: string, value: string): void {
    this.beforeWrite();
    this.setStmt.run(key, value);
  }

  /** False if the key was not set. */
  delete(key: string): boolean {
    this.beforeWrite();
    return this.deleteStmt.run(key).changes > 0;
  }
}
