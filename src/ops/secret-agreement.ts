import { createHash } from 'node:crypto';
import type { AppContext } from '../context.js';
import { DatabaseOpenError } from '../db/open-error.js';
import { agreeOnSecretFingerprint } from '../db/repos/secret-fingerprint.js';
import { describeTarget, databaseTarget } from '../db/database.js';

/** 48 bits of a hash of the secret: tells two secrets apart, says nothing about either. */
export function secretFingerprint(secret: string): number {
  return createHash('sha256').update(`casegate-instance-fingerprint:${secret}`).digest().readUIntBE(0, 6);
}

/**
 * PostgreSQL, several daemons: every daemon must sign with the same instance secret (and see the
 * same blob directory — where the generated secret lives). A daemon whose secret differs from the
 * one the database's daemons use — a shared dataDir not mounted yet when it started (it made a new
 * secret and would keep raw mail on its local disk), another instance's configuration pointed at
 * this database — signs references, reply tokens and links the others reject. It refuses to start
 * (exit 1: systemd tries again, and succeeds once the mount is there); `casegate ingest` on such a
 * host exits 75 (the MTA keeps the message). A rotation
 * (instance.previousSecrets holds the secret in use) moves the record to the new secret.
 */
export async function checkSecretAgreement(ctx: AppContext): Promise<void> {
  const current = secretFingerprint(ctx.secret.current.secret);
  const previous = ctx.secret
    .accepted()
    .filter((k) => k.secret !== ctx.secret.current.secret)
    .map((k) => secretFingerprint(k.secret));
  const recorded = await agreeOnSecretFingerprint(ctx.db, current, previous);
  if (recorded === current) return;
  const secretFrom = ctx.config.instance.secret !== undefined ? 'instance.secret' : `${ctx.paths.dataDir}/secret`;
  throw new DatabaseOpenError(
    `the daemons of the database ${describeTarget(databaseTarget(ctx.config, ctx.paths))} sign with another instance secret than this one (${secretFrom}): not going on. ` +
      'Every daemon of one database needs the same secret and the same shared dataDir: is the shared dataDir mounted (a new secret file is made in an empty directory)? ' +
      'To move every daemon to a new secret, keep the old one in instance.previousSecrets (docs/configuration.md, "Rotating the secret"); ' +
      "if the old secret is lost for good, forget it with: delete from counters where name = 'instance-secret';",
    { cause: null },
  );
}
