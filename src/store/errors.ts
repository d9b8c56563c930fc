// Errors the store reports. Each carries a code a caller can branch on and a message a
// user can act on; SQLite's own error codes never leak past the repositories.

export type StoreErrorCode = "not-writable" | "corrupt" | "too-new" | "exists" | "not-found" | "quota";

export class StoreError extends Error {
  override readonly name = "StoreError";

  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The extended SQLite result code of an error thrown by better-sqlite3, if it is one. */
export function sqliteCode(err: unknown): string | undefined {
  // Duck-typed, not instanceof: under test runners that use vm contexts, errors made by the
  // native addon come from another realm's Error.
  const code: unknown = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && code.startsWith("SQLITE_") ? code : undefined;
}

export function isForeignKeyViolation(err: unknown): boolean {
  return sqliteCode(err) === "SQLITE_CONSTRAINT_FOREIGNKEY";
}

export function isUniqueViolation(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
}

/** Turns "the owner row is missing" into the error callers expect for an unknown account. */
export function unknownAccount(owner: string, err?: unknown): StoreError {
  return new StoreError("not-found", `no account ${owner} in the store`, err === undefined ? undefined : { cause: err });
}
