/**
 * A case subject as it is compared (a forward of her own message: stages/thread.ts, on
 * cases.subject_key, 0038): NFKC (a subject written decomposed — "Ru\u0308ckgabe" — or with
 * compatibility forms, fullwidth letters, ligatures, is the same subject), then case folded the same
 * way on every backend: upper then lower case, so "ß"/"SS", "ς"/"Σ" and any script's letters fold
 * together ("Заказ" = "ЗАКАЗ", "Rückgabe" = "RÜCKGABE"). Computed here, never by the database:
 * SQLite's lower() folds ASCII only, PostgreSQL's follows its locale (none under LC_CTYPE=C).
 * Changing it changes every stored key: a migration must recompute the column (as 0038 fills it).
 */
export function subjectKey(subject: string): string {
  return subject.normalize('NFKC').toUpperCase().toLowerCase();
}
