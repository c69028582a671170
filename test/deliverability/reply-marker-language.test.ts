import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ParsedMail } from 'mailparser';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/config/load.js';
import { eml, testEnv, type TestEnv } from '../helpers/context.js';
import { firstSentTo } from '../helpers/sent-mail.js';
import { SLA_CONFIG } from '../helpers/sla-config.js';

/**
 * The first line of every email — the reply marker, which is also what an inbox shows as the
 * preview — is in the customer's language; their answer above it, in any client that does not
 * quote (Outlook), is still cut there.
 */

let env: TestEnv;
beforeEach(async () => {
  env = await testEnv({ outgoing: { transport: 'file' }, autoReply: { minIntervalSeconds: 0 } });
});
afterEach(async () => {
  await env.close();
});

async function sentTo(address: string): Promise<ParsedMail> {
  return (await firstSentTo(env, address)).parsed;
}

const GERMAN_MARKER = '##- Bitte schreiben Sie Ihre Antwort über dieser Zeile -##';

describe('the reply marker in the customer’s language', () => {
  it('German: the text and HTML parts begin with the German marker; an unquoted answer above it is cut there', async () => {
    await env.ingest(eml({ from: 'Jürgen <juergen@kunde.example>', subject: 'Drucker geht nicht', messageId: 'j-1@kunde.example', headers: { 'Content-Language': 'de' }, body: 'Guten Tag, der Drucker im Büro druckt seit heute Morgen nicht mehr.' }));
    const m = await sentTo('juergen@kunde.example');
    expect((m.text ?? '').split('\n')[0]).toBe(GERMAN_MARKER);
    const html = typeof m.html === 'string' ? m.html.replace(/<title>[\s\S]*?<\/title>/, '').replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim() : '';
    expect(html.startsWith(GERMAN_MARKER)).toBe(true);
    for (const part of [m.text ?? '', html]) expect(part).not.toContain('Please type your reply');
    // A top-posted answer with the whole confirmation below it, unquoted and without a header block (as some phone clients send it).
    const answer = `Danke, der Drucker geht wieder.\n\n${m.text ?? ''}`;
    const out = await env.ingest(eml({ from: 'Jürgen <juergen@kunde.example>', subject: `AW: ${m.subject ?? ''}`, inReplyTo: m.messageId!.replace(/^<|>$/g, ''), messageId: 'j-2@kunde.example', headers: { 'Content-Language': 'de' }, body: answer }));
    expect(out.kind).toBe('stored');
    const stored = await env.ctx.db.selectFrom('messages').select(['visible_text']).where('message_id', '=', 'j-2@kunde.example').executeTakeFirstOrThrow();
    expect(stored.visible_text).toBe('Danke, der Drucker geht wieder.');
  });

  it('English: the English marker', async () => {
    await env.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Printer', messageId: 'jane-1@customer.example', body: 'The printer in room 4 does not print.' }));
    const m = await sentTo('jane@customer.example');
    expect((m.text ?? '').split('\n')[0]).toBe('##- Please type your reply above this line -##');
  });
});

describe('a language the admin adds (French templates): no English in the mail casegate writes itself', () => {
  const FRENCH_MARKER = '##- Veuillez écrire votre réponse au-dessus de cette ligne -##';

  it('the marker, the promise (target and time) and the subject placeholder are French; an answer above the French marker is cut there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'casegate-tpl-'));
    cpSync(join(PACKAGE_ROOT, 'templates'), dir, { recursive: true });
    mkdirSync(join(dir, 'fr'));
    writeFileSync(join(dir, 'fr', 'confirmation.subject.hbs'), '{{case.tag}} RE : {{case.subject}}\n');
    writeFileSync(join(dir, 'fr', 'confirmation.text.hbs'), 'Nous avons bien reçu votre demande « {{case.subject}} ».\n{{#if promise.has}}Nous répondons sous {{promise.target}}, d’ici {{promise.due}}.{{/if}}\n');
    writeFileSync(join(dir, 'fr', 'confirmation.html.hbs'), '<p>Nous avons bien reçu votre demande.</p>\n');
    const fr = await testEnv({ ...SLA_CONFIG, outgoing: { transport: 'file' }, autoReply: { minIntervalSeconds: 0 }, templates: { dir, watch: false, languages: ['en', 'de', 'fr'] } }, '2026-03-02T15:00:00Z');
    try {
      await fr.ingest(eml({ from: 'Éloïse <eloise@client.example>', subject: '', messageId: 'fr-1@client.example', body: 'Bonjour, la imprimante ne fonctionne pas et je ne peux pas imprimer. Merci, cordialement' }));
      const { parsed: m } = await firstSentTo(fr, 'eloise@client.example');
      const text = m.text ?? '';
      expect(text.split('\n')[0]).toBe(FRENCH_MARKER);
      expect(m.subject).toBe('[Case #10001] RE : (sans objet)');
      expect(text).toContain('Nous avons bien reçu votre demande « (sans objet) ».');
      // 4 business hours from Monday 09:00 in Chicago: Monday 13:00 CST, in French.
      expect(text).toMatch(/Nous répondons sous 4 heures ouvrées, d’ici lundi \d{2}:\d{2} UTC−6\./);
      for (const english of ['Please type your reply', 'business hours', 'Monday', '(no subject)']) expect(text).not.toContain(english);
      const answer = `Merci, l’imprimante fonctionne de nouveau.\n\n${text}`;
      const out = await fr.ingest(eml({ from: 'Éloïse <eloise@client.example>', subject: `RE : ${m.subject ?? ''}`, inReplyTo: m.messageId!.replace(/^<|>$/g, ''), messageId: 'fr-2@client.example', body: answer }));
      expect(out.kind).toBe('stored');
      const stored = await fr.ctx.db.selectFrom('messages').select(['visible_text']).where('message_id', '=', 'fr-2@client.example').executeTakeFirstOrThrow();
      expect(stored.visible_text).toBe('Merci, l’imprimante fonctionne de nouveau.');
    } finally {
      await fr.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('configured texts in a third language (cases.translations)', () => {
  it('a French case reads the French expectedResponse and helpfulInfo; an English case the English ones; a queue’s own value still wins', async () => {
    const env2 = await testEnv({
      outgoing: { transport: 'file' },
      autoReply: { minIntervalSeconds: 0 },
      templates: { watch: false, languages: ['en', 'de', 'fr'] },
      cases: { translations: { fr: { expectedResponse: 'sous un jour ouvré', helpfulInfo: ['des captures d’écran', 'le message d’erreur exact'] } } },
      queues: { billing: { expectedResponse: 'within two business days' } },
    });
    try {
      await env2.ingest(eml({ from: 'Éloïse <eloise@client.example>', subject: 'Imprimante', messageId: 'fr-t1@client.example', headers: { 'Content-Language': 'fr-FR' }, body: 'Bonjour, l’imprimante ne marche pas.' }));
      await env2.ingest(eml({ from: 'Jane <jane@customer.example>', subject: 'Printer', messageId: 'en-t1@customer.example', body: 'The printer does not work.' }));
      await env2.ingest(eml({ from: 'Élise <elise@client.example>', to: 'billing@example.com', subject: 'Facture', messageId: 'fr-t2@client.example', headers: { 'Content-Language': 'fr' }, body: 'Bonjour, la facture est fausse.' }), { mailbox: 'billing' });
      const fr = (await firstSentTo(env2, 'eloise@client.example')).parsed.text ?? '';
      expect(fr).toContain('sous un jour ouvré');
      expect(fr).toContain('des captures d’écran');
      expect(fr).not.toContain('within one business day');
      const en = (await firstSentTo(env2, 'jane@customer.example')).parsed.text ?? '';
      expect(en).toContain('within one business day');
      expect(en).not.toContain('sous un jour ouvré');
      expect((await firstSentTo(env2, 'elise@client.example')).parsed.text ?? '').toContain('within two business days');
    } finally {
      await env2.close();
    }
  });
});
