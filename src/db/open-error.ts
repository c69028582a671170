import { sql, type Kysely } from 'kysely';
import { isTransientDbError } from './dialect.js';

/**
 * casegate could not open or set up its PostgreSQL database (the daemon's start, `migrate`, any
 * command): the server's refusal and what to do about it, in one line for the admin — not a stack
 * trace (src/cli/program.ts prints it; exit 1, so systemd's Restart= tries again).
 */
export class DatabaseOpenError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'DatabaseOpenError';
  }
}

/** Which step failed: creating the configured schema, or the migrations in it. */
export type OpenStep = 'schema' | 'migrate';

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Who casegate is on the server and in which database (the connection works when 42501 comes back). */
async function whoAmI(db: Kysely<unknown>): Promise<{ role: string; database: string }> {
  try {
    const r = await sql<{ role: string; database: string }>`select current_user as role, current_database() as database`.execute(db);
    return r.rows[0] ?? { role: '<role>', database: '<database>' };
  } catch {
    return { role: '<role>', database: '<database>' };
  }
}

/**
 * `err` (from `step` on the database `described`, schema `schema`) as the admin should read it: a
 * DatabaseOpenError for refusals an admin fixes on the server side (privileges, authentication, a
 * missing database) or a server that does not answer; anything else unchanged. `prefix` is said
 * before the server's message (the failing migration's name).
 */
export async function explainOpenError(db: Kysely<unknown>, err: unknown, at: { described: string; schema: string; step: OpenStep; prefix?: string }): Promise<unknown> {
  const code = typeof (err as { code?: unknown } | null)?.code === 'string' ? (err as { code: string }).code : '';
  const said = `${at.prefix ?? ''}${err instanceof Error ? err.message : String(err)}`;
  const where = `the database ${at.described}`;
  if (code === '42501') {
    const { role, database } = await whoAmI(db);
    const schema = quote(at.schema);
    const fix =
      at.step === 'schema'
        ? `the role ${quote(role)} may not create the schema ${schema} (that needs CREATE on the database ${quote(database)}): create it once as a superuser (sudo -u postgres psql ${quote(database)}; the database owner only when it is a member of that role) — CREATE SCHEMA ${schema} AUTHORIZATION ${quote(role)}; — or GRANT CREATE ON DATABASE ${quote(database)} TO ${quote(role)};`
        : `the role ${quote(role)} must be able to create and change casegate's tables in the schema ${schema}: make it the schema's owner, as a superuser — ALTER SCHEMA ${schema} OWNER TO ${quote(role)}; (PostgreSQL 15 and later let only the database owner create in "public") — and the owner of the tables in it (after a restore made by another user: ALTER TABLE … OWNER TO ${quote(role)};)`;
    return new DatabaseOpenError(`cannot set up ${where}: ${said}: ${fix} (docs/postgresql.md)`, { cause: err });
  }
  if (code === '3D000') return new DatabaseOpenError(`cannot open ${where}: ${said}: create it (createdb -O <casegate's role> <database>) or correct database.url`, { cause: err });
  // pg's own words when the server asks for a password and none was given (SCRAM; md5 says 28P01 …).
  if (/client password must be a string/i.test(said)) return new DatabaseOpenError(`cannot open ${where}: ${said}: the server asks for a password and casegate has none — set database.password (e.g. \${CASEGATE_DB_PASSWORD}), PGPASSWORD or ~/.pgpass (migrate-data: PGPASSWORD or ~/.pgpass)`, { cause: err });
  if (code.startsWith('28')) return new DatabaseOpenError(`cannot open ${where}: ${said}: check the user in database.url, database.password (or PGPASSWORD, ~/.pgpass) and the server's pg_hba.conf`, { cause: err });
  if (TLS_CERT_CODES.test(code) || /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate|Hostname\/IP does not match/i.test(said)) {
    return new DatabaseOpenError(
      `cannot open ${where}: ${said}: the server's TLS certificate is not one this machine trusts for that name. casegate's driver checks the certificate and the host name for every sslmode but disable (require and verify-ca too): ` +
        `for a private CA or a self-signed server give its certificate in database.url — ?sslmode=verify-full&sslrootcert=/etc/casegate/db-ca.pem (PEM) — and connect by a name the certificate holds (docs/postgresql.md)`,
      { cause: err },
    );
  }
  if (/The server does not support SSL connections/i.test(said)) {
    return new DatabaseOpenError(`cannot open ${where}: ${said}: turn on ssl on the server, or leave sslmode out of database.url on a trusted network (docs/postgresql.md)`, { cause: err });
  }
  if (/unsupported startup parameter: options/i.test(said)) {
    return new DatabaseOpenError(
      `cannot open ${where}: ${said}: a pooler (PgBouncer) in front of PostgreSQL refuses the startup parameter casegate sets search_path and lock_timeout with. ` +
        `Add options to its ignore_startup_parameters and set both for casegate's role instead: ${POOLER_FIX(at.schema)} (docs/postgresql.md, "Behind PgBouncer")`,
      { cause: err },
    );
  }
  if (isTransientDbError(err)) {
    const unreachable = /^(ECONN|ETIMEDOUT|EHOST|ENET|ENOTFOUND|EAI_AGAIN|08|57P03)/.test(code) || /Connection terminated|timeout exceeded when trying to connect/i.test(said);
    const why = unreachable ? 'is the server up, and database.url right?' : 'the server is busy or not taking writes now (out of connections, a lock held, read-only, restarting)';
    return new DatabaseOpenError(`cannot open ${where}: ${said} (${why} Under systemd casegate is started again until it works)`, { cause: err });
  }
  return err;
}

/** Node's codes for a TLS certificate it does not accept. */
const TLS_CERT_CODES = /^(UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

const POOLER_FIX = (schema: string, role = '<role>', database = '<database>'): string =>
  `ALTER ROLE ${role} IN DATABASE ${database} SET search_path = ${quote(schema)}; ALTER ROLE ${role} IN DATABASE ${database} SET lock_timeout = '5s'; (database.busyTimeoutMs)`;

/**
 * casegate gives each connection its schema (search_path) and lock_timeout in the startup
 * parameter `options`. A pooler told to ignore that parameter (PgBouncer's
 * ignore_startup_parameters, the usual answer to its refusal) drops both without a word: casegate's
 * tables were created and written in "public" (or the role's own schema), beside any other
 * instance's, and a write waited for a lock for ever. The session is checked once at open
 * (one query) and the start refused, saying what to set on the server.
 */
export async function checkSessionSettings(db: Kysely<unknown>, at: { described: string; schema: string }): Promise<void> {
  const r = await sql<{ schema: string | null; path: string; lock: string }>`select current_schema() as schema, current_setting('search_path') as path, current_setting('lock_timeout') as lock`.execute(db);
  const s = r.rows[0];
  if (s === undefined || (s.schema === at.schema && s.lock !== '0')) return;
  const { role, database } = await whoAmI(db);
  const what =
    s.schema !== at.schema
      ? `use the search_path ${s.path}, not the schema ${quote(at.schema)} (database.schema), so casegate's tables would be another schema's`
      : 'have no lock_timeout (database.busyTimeoutMs), so a write would wait for a lock for ever';
  throw new DatabaseOpenError(
    `the connections to the database ${at.described} ${what}: not going on. The startup parameter options that sets both did not arrive — a pooler (PgBouncer's ignore_startup_parameters) drops it. ` +
      `Set both for casegate's role: ${POOLER_FIX(at.schema, quote(role), quote(database))} — then have the pooler open new server connections (PgBouncer: RECONNECT in its admin console, or a restart; those it holds keep the settings they started with) (docs/postgresql.md, "Behind PgBouncer")`,
    { cause: null },
  );
}
