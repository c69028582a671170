import { randomBytes } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { access, constants, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { ResolvedConfig } from '../config/load.js';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../storage/private-files.js';

/**
 * The only importer of nodemailer: sends one composed message. Errors carry nodemailer's `code`
 * and, when the server answered, `responseCode`; send-errors.ts decides what they mean.
 */
export interface MailTransport {
  readonly name: string;
  send(message: Mail.Options): Promise<{ response: string }>;
  /**
   * Check that the transport works without sending anything (SMTP: connect, TLS, login; file:
   * the folder is writable). Used to probe a paused transport; without it, the next send is the probe.
   */
  verify?(): Promise<void>;
  close(): void;
}

/**
 * Transport 'file' (the embedded default): nodemailer's stream transport builds the real MIME
 * message and we write it atomically as <dir>/<time>-<id>.eml. Transport 'smtp': pooled SMTP.
 */
export function createTransport(resolved: ResolvedConfig): MailTransport {
  const out = resolved.config.outgoing;
  if (out.transport === 'file') {
    const dir = resolved.paths.outgoingDir;
    const t = nodemailer.createTransport({ streamTransport: true, buffer: false, newline: 'windows' });
    return {
      name: `file:${dir}`,
      async send(message) {
        await mkdir(join(dir, 'tmp'), { recursive: true, mode: PRIVATE_DIR_MODE });
        const info = (await t.sendMail(message)) as unknown as { message: Readable; messageId: string };
        const base = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`;
        const tmp = join(dir, 'tmp', base);
        await pipeline(info.message, createWriteStream(tmp, { mode: PRIVATE_FILE_MODE }));
        await rename(tmp, join(dir, base));
        return { response: `written ${base}` };
      },
      async verify() {
        await mkdir(join(dir, 'tmp'), { recursive: true });
        await access(join(dir, 'tmp'), constants.W_OK);
      },
      close() {
        t.close();
      },
    };
  }
  const smtp = out.smtp;
  if (smtp === undefined) throw new Error('outgoing.smtp is required for transport smtp');
  const t = nodemailer.createTransport({
    pool: true,
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    maxConnections: smtp.maxConnections,
    ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.password ?? '' } } : {}),
    tls: {
      rejectUnauthorized: !smtp.insecureSkipVerify,
      ...(smtp.caFile !== undefined ? { ca: readFileSync(smtp.caFile) } : {}),
    },
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  });
  return {
    name: `smtp:${smtp.host}:${smtp.port}`,
    async send(message) {
      const info = await t.sendMail(message);
      return { response: String(info.response ?? '') };
    },
    async verify() {
      await t.verify();
    },
    close() {
      t.close();
    },
  };
}
